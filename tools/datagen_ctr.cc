#include "tools/datagen_ctr.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/auc.h"
#include "tools/datagen_zipf.h"
#include "worker/criteo_reader.h"
#include "worker/ctr_batch.h"

namespace psd::datagen {
namespace {

// What a hash stands for: one tag per kind of parameter or random stream.
enum Tag : uint64_t {
  kTagSalt = 1,
  kTagWeight,
  kTagWeightMissing,
  kTagFactor,
  kTagFactorMissing,
  kTagDenseWeight,
  kTagDenseSpread,
  kTagPairs,
  kTagRow,
};

// Splits of the row streams.
constexpr uint64_t kTrain = 0, kTest = 1, kCalibration = 2;
constexpr int64_t kCalibrationRows = 20000;

uint64_t Mix64(uint64_t z) {  // SplitMix64's finalizer
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t Hash(uint64_t seed, uint64_t tag, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0) {
  return Mix64(Mix64(Mix64(Mix64(seed) ^ tag) ^ a) ^ (b * 0x9e3779b97f4a7c15ULL + c));
}

// murmur3's 32-bit finalizer: a bijection of u32, so distinct values get distinct hashes.
uint32_t Fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
  return h;
}

// A uniform in [0, 1) from 53 bits of a hash.
double Uniform(uint64_t h) { return static_cast<double>(h >> 11) * 0x1.0p-53; }

// About N(0, 1) from a hash: the sum of four 16-bit uniforms (Irwin-Hall), scaled to unit
// variance; bell-shaped, bounded by +-3.46.
double Gauss(uint64_t h) {
  double sum = 0;
  for (int i = 0; i < 4; ++i) sum += (static_cast<double>((h >> (16 * i)) & 0xffff) + 0.5);
  return (sum / 65536.0 - 2.0) * std::sqrt(3.0);
}

// A row's random stream: SplitMix64 from a hash of (seed, split, row).
class RowRng {
 public:
  RowRng(uint64_t seed, uint64_t split, uint64_t row) : state_(Hash(seed, kTagRow, split, row)) {}
  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return Mix64(state_);
  }
  double NextUniform() { return Uniform(Next()); }

 private:
  uint64_t state_;
};

struct Row {
  std::vector<int64_t> x;  // integer features; -1: empty
  std::vector<float> dense;
  std::vector<uint32_t> hashes;
  std::vector<uint8_t> missing;
  double logit = 0;
};

class RowGenerator {
 public:
  RowGenerator(const CtrSpec& spec, const PlantedModel& model) : spec_(spec), model_(model) {
    for (int f = 0; f < spec.fields; ++f) {
      zipf_.emplace_back(spec.cardinality[f], spec.zipf);
      salts_.push_back(static_cast<uint32_t>(Hash(spec.seed, kTagSalt, f)));
    }
    for (int j = 0; j < spec.dense; ++j) {
      spreads_.push_back(0.5 + 2.5 * Uniform(Hash(spec.seed, kTagDenseSpread, j)));
    }
    row_.x.resize(spec.dense);
    row_.dense.resize(spec.dense);
    row_.hashes.resize(spec.fields);
    row_.missing.resize(spec.fields);
  }

  // Draws row `index` of `split`, and its label (Bernoulli of the model's probability).
  const Row& Draw(uint64_t split, uint64_t index, float* label) {
    RowRng rng(spec_.seed, split, index);
    auto uniform = [&rng] { return rng.NextUniform(); };
    for (int j = 0; j < spec_.dense; ++j) {
      if (rng.NextUniform() < spec_.missing) {
        row_.x[j] = -1;
        row_.dense[j] = 0;
        continue;
      }
      const double t = std::fabs(Gauss(rng.Next())) * spreads_[j];
      const int64_t x = static_cast<int64_t>(std::min(std::floor(std::expm1(t)), 1e12));
      row_.x[j] = x;
      row_.dense[j] = CriteoDense(x);
    }
    for (int f = 0; f < spec_.fields; ++f) {
      if (rng.NextUniform() < spec_.missing) {
        row_.missing[f] = 1;
        row_.hashes[f] = 0;
        continue;
      }
      const uint64_t value = zipf_[f].Sample(uniform) - 1;  // the most frequent is value 0
      row_.missing[f] = 0;
      row_.hashes[f] = Fmix32(static_cast<uint32_t>(value) ^ salts_[f]);
    }
    row_.logit = model_.Logit(row_.hashes.data(), row_.missing.data(), row_.dense.data());
    *label = rng.NextUniform() < PlantedModel::Probability(row_.logit) ? 1.0f : 0.0f;
    return row_;
  }

 private:
  const CtrSpec& spec_;
  const PlantedModel& model_;
  std::vector<ZipfSampler> zipf_;
  std::vector<uint32_t> salts_;
  std::vector<double> spreads_;
  Row row_;
};

// One row in the Criteo layout, appended to `out`.
void FormatRow(const Row& row, float label, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[32];
  out->push_back(label == 1.0f ? '1' : '0');
  for (int64_t x : row.x) {
    out->push_back('\t');
    if (x < 0) continue;
    char* end = buf + sizeof(buf);
    char* p = end;
    uint64_t v = static_cast<uint64_t>(x);
    do {
      *--p = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    out->append(p, end - p);
  }
  for (size_t f = 0; f < row.hashes.size(); ++f) {
    out->push_back('\t');
    if (row.missing[f]) continue;
    const uint32_t h = row.hashes[f];
    for (int i = 7; i >= 0; --i) buf[7 - i] = kHex[(h >> (4 * i)) & 0xf];
    out->append(buf, 8);
  }
  out->push_back('\n');
}

// A file written through a 1 MiB buffer, plain or gzip.
class Sink {
 public:
  static absl::StatusOr<std::unique_ptr<Sink>> Open(const std::string& path, bool gzip) {
    std::unique_ptr<Sink> s(new Sink(path));
    if (gzip) {
      s->gz_ = gzopen(path.c_str(), "wb1");
      if (s->gz_ == nullptr) return absl::InvalidArgumentError(path + ": cannot create");
    } else {
      s->file_ = std::fopen(path.c_str(), "wb");
      if (s->file_ == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
      }
    }
    s->buf_.reserve(kBuffer + 4096);
    return s;
  }
  ~Sink() {
    if (gz_ != nullptr) gzclose(gz_);
    if (file_ != nullptr) std::fclose(file_);
  }
  absl::Status Write(absl::string_view bytes) {
    buf_.append(bytes.data(), bytes.size());
    return buf_.size() >= kBuffer ? Flush() : absl::OkStatus();
  }
  absl::Status Close() {
    absl::Status s = Flush();
    if (gz_ != nullptr) {
      const int r = gzclose(gz_);
      gz_ = nullptr;
      if (s.ok() && r != Z_OK) s = absl::InternalError(path_ + ": write failed (gzclose)");
    }
    if (file_ != nullptr) {
      const int r = std::fclose(file_);
      file_ = nullptr;
      if (s.ok() && r != 0) s = absl::InternalError(path_ + ": write failed (close)");
    }
    return s;
  }

 private:
  static constexpr size_t kBuffer = size_t{1} << 20;
  explicit Sink(std::string path) : path_(std::move(path)) {}
  absl::Status Flush() {
    if (buf_.empty()) return absl::OkStatus();
    const bool ok = gz_ != nullptr
                        ? gzwrite(gz_, buf_.data(), static_cast<unsigned>(buf_.size())) ==
                              static_cast<int>(buf_.size())
                        : std::fwrite(buf_.data(), 1, buf_.size(), file_) == buf_.size();
    buf_.clear();
    if (!ok) return absl::InternalError(path_ + ": write failed (disk full?)");
    return absl::OkStatus();
  }

  std::string path_;
  gzFile gz_ = nullptr;
  std::FILE* file_ = nullptr;
  std::string buf_;
};

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// Draws and formats rows on spec.threads threads, in blocks of kBlockRows consecutive rows,
// and writes the blocks in row order: the bytes do not depend on the number of threads.
class RowWriter {
 public:
  RowWriter(const CtrSpec& spec, const PlantedModel& model) {
    int threads = spec.threads;
    if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
    threads = std::max(1, std::min(threads, 256));
    blocks_.resize(threads);
    for (int t = 0; t < threads; ++t) gens_.push_back(std::make_unique<RowGenerator>(spec, model));
  }

  // Rows [begin, end) of `split` into `sink`; counts positives; keeps the true probabilities
  // and labels when `probs` is given.
  absl::Status Write(uint64_t split, int64_t begin, int64_t end, Sink* sink, int64_t* positives,
                     std::vector<double>* probs, std::vector<float>* labels) {
    const int threads = static_cast<int>(blocks_.size());
    for (int64_t base = begin; base < end; base += kBlockRows * threads) {
      std::vector<std::thread> pool;
      int used = 0;
      for (int t = 0; t < threads; ++t) {
        const int64_t b = base + t * kBlockRows;
        const int64_t e = std::min(end, b + kBlockRows);
        if (b >= e) break;
        ++used;
        auto work = [this, t, b, e, split, keep = probs != nullptr] {
          Block& block = blocks_[t];
          block.text.clear();
          block.probs.clear();
          block.labels.clear();
          block.positives = 0;
          float label;
          for (int64_t i = b; i < e; ++i) {
            const Row& row = gens_[t]->Draw(split, static_cast<uint64_t>(i), &label);
            FormatRow(row, label, &block.text);
            block.positives += label == 1.0f ? 1 : 0;
            if (keep) {
              block.probs.push_back(PlantedModel::Probability(row.logit));
              block.labels.push_back(label);
            }
          }
        };
        if (threads == 1) {
          work();
        } else {
          pool.emplace_back(work);
        }
      }
      for (std::thread& th : pool) th.join();
      for (int t = 0; t < used; ++t) {
        const Block& block = blocks_[t];
        if (absl::Status s = sink->Write(block.text); !s.ok()) return s;
        *positives += block.positives;
        if (probs != nullptr) {
          probs->insert(probs->end(), block.probs.begin(), block.probs.end());
          labels->insert(labels->end(), block.labels.begin(), block.labels.end());
        }
      }
    }
    return absl::OkStatus();
  }

 private:
  static constexpr int64_t kBlockRows = 8192;
  struct Block {
    std::string text;
    int64_t positives = 0;
    std::vector<double> probs;
    std::vector<float> labels;
  };
  std::vector<std::unique_ptr<RowGenerator>> gens_;
  std::vector<Block> blocks_;
};

// The bias whose mean click probability over the calibration rows is the target.
double FitBias(const CtrSpec& spec, PlantedModel* model) {
  model->set_bias(0);
  RowGenerator gen(spec, *model);
  std::vector<double> z;
  float label;
  for (int64_t i = 0; i < kCalibrationRows; ++i)
    z.push_back(gen.Draw(kCalibration, i, &label).logit);
  double lo = -50, hi = 50;
  for (int it = 0; it < 200; ++it) {
    const double mid = 0.5 * (lo + hi);
    double mean = 0;
    for (double v : z) mean += Sigmoid(mid + v);
    mean /= static_cast<double>(z.size());
    (mean < spec.target_ctr ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::string FileName(const std::string& stem, int index, int count, bool gzip) {
  const std::string ext = gzip ? ".txt.gz" : ".txt";
  if (count == 1) return stem + ext;
  return absl::StrFormat("%s-%05d-of-%05d%s", stem, index, count, ext);
}

// The shortest of %.15g, %.16g, %.17g that reads back as `v`.
std::string Num(double v) {
  for (int digits : {15, 16}) {
    std::string s = absl::StrFormat("%.*g", digits, v);
    if (std::strtod(s.c_str(), nullptr) == v) return s;
  }
  return absl::StrFormat("%.17g", v);
}
std::string OptNum(const std::optional<double>& v) { return v ? Num(*v) : "null"; }

}  // namespace

absl::Status ValidateCtrSpec(CtrSpec* spec) {
  auto bad = [](absl::string_view flag, auto value, absl::string_view want) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, " ", value, ": ", want));
  };
  if (spec->out_dir.empty()) return absl::InvalidArgumentError("--out DIR is required");
  if (spec->train_rows < 0) return bad("train_rows", spec->train_rows, "must be >= 0");
  if (spec->test_rows < 0) return bad("test_rows", spec->test_rows, "must be >= 0");
  if (spec->fields < 1 || spec->fields > kMaxCriteoFields) {
    return bad("fields", spec->fields, "must be in [1, 256]");
  }
  if (spec->dense < 0 || spec->dense > 1000)
    return bad("dense", spec->dense, "must be in [0, 1000]");
  if (spec->cardinality.size() == 1) {
    spec->cardinality.assign(spec->fields, spec->cardinality[0]);
  }
  if (static_cast<int>(spec->cardinality.size()) != spec->fields) {
    return absl::InvalidArgumentError(absl::StrCat("--cardinality: ", spec->cardinality.size(),
                                                   " values for ", spec->fields,
                                                   " fields (give one, or one per field)"));
  }
  for (size_t f = 0; f < spec->cardinality.size(); ++f) {
    const uint64_t c = spec->cardinality[f];
    if (c < 1 || c > (uint64_t{1} << 32)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--cardinality of field ", f, ": ", c, " is not in [1, 2^32]"));
    }
  }
  if (!(spec->zipf > 0 && spec->zipf <= 10)) return bad("zipf", spec->zipf, "must be in (0, 10]");
  const int max_pairs = spec->fields * (spec->fields - 1) / 2;
  if (spec->interactions < 0 || spec->interactions > max_pairs) {
    return bad("interactions", spec->interactions,
               absl::StrCat("must be in [0, ", max_pairs, "] for ", spec->fields, " fields"));
  }
  if (!(spec->target_ctr > 0 && spec->target_ctr < 1)) {
    return bad("target_ctr", spec->target_ctr, "must be in (0, 1)");
  }
  if (!(spec->missing >= 0 && spec->missing < 1)) {
    return bad("missing", spec->missing, "must be in [0, 1)");
  }
  for (auto [flag, v] : {std::pair<const char*, double>{"weight_scale", spec->weight_scale},
                         {"interaction_scale", spec->interaction_scale},
                         {"dense_scale", spec->dense_scale}}) {
    if (!(v >= 0 && v <= 100)) return bad(flag, v, "must be in [0, 100]");
  }
  if (spec->threads < 0 || spec->threads > 256) {
    return bad("threads", spec->threads, "must be in [0, 256]");
  }
  if (spec->train_files < 1 || spec->train_files > 100000) {
    return bad("train_files", spec->train_files, "must be in [1, 100000]");
  }
  return absl::OkStatus();
}

PlantedModel::PlantedModel(const CtrSpec& spec) : spec_(spec) {
  for (int j = 0; j < spec.dense; ++j) {
    dense_weights_.push_back(spec.dense_scale * Gauss(Hash(spec.seed, kTagDenseWeight, j)));
  }
  // The interacting pairs: a seeded Fisher-Yates draw from every pair of fields.
  std::vector<std::pair<int, int>> all;
  for (int f = 0; f < spec.fields; ++f) {
    for (int g = f + 1; g < spec.fields; ++g) all.emplace_back(f, g);
  }
  for (int i = 0; i < spec.interactions && i < static_cast<int>(all.size()); ++i) {
    const uint64_t left = all.size() - i;
    const size_t j = i + static_cast<size_t>(Hash(spec.seed, kTagPairs, i) % left);
    std::swap(all[i], all[j]);
    pairs_.push_back(all[i]);
  }
  std::sort(pairs_.begin(), pairs_.end());
}

double PlantedModel::FieldWeight(int field, uint32_t hash, bool missing) const {
  const uint64_t h = missing ? Hash(spec_.seed, kTagWeightMissing, field)
                             : Hash(spec_.seed, kTagWeight, field, hash);
  return spec_.weight_scale * Gauss(h);
}

double PlantedModel::Factor(int pair, int side, uint32_t hash, bool missing) const {
  const uint64_t h = missing ? Hash(spec_.seed, kTagFactorMissing, pair, side)
                             : Hash(spec_.seed, kTagFactor, pair, side, hash);
  return Gauss(h);
}

double PlantedModel::Logit(const uint32_t* hashes, const uint8_t* missing,
                           const float* dense) const {
  double z = bias_;
  for (int j = 0; j < spec_.dense; ++j) z += dense_weights_[j] * static_cast<double>(dense[j]);
  for (int f = 0; f < spec_.fields; ++f) z += FieldWeight(f, hashes[f], missing[f] != 0);
  for (size_t p = 0; p < pairs_.size(); ++p) {
    const int f = pairs_[p].first, g = pairs_[p].second;
    z += spec_.interaction_scale * Factor(static_cast<int>(p), 0, hashes[f], missing[f] != 0) *
         Factor(static_cast<int>(p), 1, hashes[g], missing[g] != 0);
  }
  return z;
}

double PlantedModel::Probability(double logit) { return Sigmoid(logit); }

absl::StatusOr<CtrGroundTruth> GenerateCtr(const CtrSpec& spec_in) {
  CtrSpec spec = spec_in;
  if (absl::Status s = ValidateCtrSpec(&spec); !s.ok()) return s;
  const auto start = std::chrono::steady_clock::now();
  std::error_code ec;
  std::filesystem::create_directories(spec.out_dir, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec.out_dir, ": cannot create the directory: ", ec.message()));
  }
  PlantedModel model(spec);
  model.set_bias(FitBias(spec, &model));
  CtrGroundTruth truth;
  truth.bias = model.bias();
  truth.pairs = model.pairs();
  RowWriter writer(spec, model);
  // Train: file k holds rows [k N / K, (k + 1) N / K).
  for (int k = 0; k < spec.train_files; ++k) {
    truth.train_files.push_back(FileName("train", k, spec.train_files, spec.gzip));
    absl::StatusOr<std::unique_ptr<Sink>> sink =
        Sink::Open(spec.out_dir + "/" + truth.train_files.back(), spec.gzip);
    if (!sink.ok()) return sink.status();
    const int64_t begin = spec.train_rows * k / spec.train_files;
    const int64_t end = spec.train_rows * (k + 1) / spec.train_files;
    if (absl::Status s =
            writer.Write(kTrain, begin, end, sink->get(), &truth.train_positives, nullptr, nullptr);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = (*sink)->Close(); !s.ok()) return s;
  }
  truth.train_rows = spec.train_rows;
  truth.test_file = FileName("test", 0, 1, spec.gzip);
  std::vector<double> probs;
  std::vector<float> labels;
  probs.reserve(spec.test_rows);
  labels.reserve(spec.test_rows);
  {
    absl::StatusOr<std::unique_ptr<Sink>> sink =
        Sink::Open(spec.out_dir + "/" + truth.test_file, spec.gzip);
    if (!sink.ok()) return sink.status();
    if (absl::Status s = writer.Write(kTest, 0, spec.test_rows, sink->get(), &truth.test_positives,
                                      &probs, &labels);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = (*sink)->Close(); !s.ok()) return s;
  }
  truth.test_rows = spec.test_rows;
  if (absl::StatusOr<double> auc = ExactAuc(probs, labels); auc.ok()) truth.bayes_auc = *auc;
  if (absl::StatusOr<double> ll = LogLoss(probs, labels); ll.ok()) truth.bayes_logloss = *ll;
  if (spec.test_rows > 0) {
    const double ctr = static_cast<double>(truth.test_positives) / spec.test_rows;
    std::vector<double> constant(probs.size(), ctr);
    if (absl::StatusOr<double> ll = LogLoss(constant, labels); ll.ok()) {
      truth.constant_logloss = *ll;
    }
  }
  truth.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string json_path = spec.out_dir + "/ground_truth.json";
  std::FILE* f = std::fopen(json_path.c_str(), "wb");
  if (f == nullptr) return absl::InvalidArgumentError(json_path + ": cannot create");
  const std::string json = GroundTruthJson(spec, truth);
  const bool ok = std::fwrite(json.data(), 1, json.size(), f) == json.size();
  if (std::fclose(f) != 0 || !ok) return absl::InternalError(json_path + ": write failed");
  return truth;
}

std::string GroundTruthJson(const CtrSpec& spec, const CtrGroundTruth& t) {
  auto ratio = [](int64_t a, int64_t b) {
    return b > 0 ? Num(static_cast<double>(a) / b) : "null";
  };
  std::vector<std::string> pairs, files;
  for (const auto& [f, g] : t.pairs) pairs.push_back(absl::StrCat("[", f, ", ", g, "]"));
  for (const std::string& name : t.train_files) files.push_back(absl::StrCat("\"", name, "\""));
  // Not the time taken: the file is a function of the spec alone.
  return absl::StrCat(
      "{\n  \"generator\": \"psd-datagen ctr\",\n  \"spec\": {\n",
      "    \"train_rows\": ", spec.train_rows, ",\n    \"test_rows\": ", spec.test_rows,
      ",\n    \"fields\": ", spec.fields, ",\n    \"dense\": ", spec.dense,
      ",\n    \"cardinality\": [", absl::StrJoin(spec.cardinality, ", "),
      "],\n    \"zipf\": ", Num(spec.zipf), ",\n    \"interactions\": ", spec.interactions,
      ",\n    \"seed\": ", spec.seed, ",\n    \"gzip\": ", spec.gzip ? "true" : "false",
      ",\n    \"target_ctr\": ", Num(spec.target_ctr), ",\n    \"missing\": ", Num(spec.missing),
      ",\n    \"weight_scale\": ", Num(spec.weight_scale),
      ",\n    \"interaction_scale\": ", Num(spec.interaction_scale),
      ",\n    \"dense_scale\": ", Num(spec.dense_scale),
      ",\n    \"train_files\": ", spec.train_files, "\n  },\n",
      "  \"layout\": {\"format\": \"criteo\", \"integer\": ", spec.dense,
      ", \"categorical\": ", spec.fields, "},\n  \"files\": {\"train\": [",
      absl::StrJoin(files, ", "), "], \"test\": \"", t.test_file,
      "\"},\n  \"model\": {\"bias\": ", Num(t.bias), ", \"interaction_pairs\": [",
      absl::StrJoin(pairs, ", "), "]},\n", "  \"train\": {\"rows\": ", t.train_rows,
      ", \"positives\": ", t.train_positives, ", \"ctr\": ", ratio(t.train_positives, t.train_rows),
      "},\n", "  \"test\": {\"rows\": ", t.test_rows, ", \"positives\": ", t.test_positives,
      ", \"ctr\": ", ratio(t.test_positives, t.test_rows), ", \"bayes_auc\": ", OptNum(t.bayes_auc),
      ", \"bayes_logloss\": ", OptNum(t.bayes_logloss),
      ", \"constant_logloss\": ", OptNum(t.constant_logloss), "}\n}\n");
}

}  // namespace psd::datagen
