#include "tools/datagen_ctr.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/auc.h"
#include "tests/testing.h"
#include "worker/ctr_reader.h"

namespace psd::datagen {
namespace {

using Catch::Matchers::Contains;

std::string TmpDir(const std::string& name) {
  const char* d = std::getenv("TEST_TMPDIR");
  return absl::StrCat(d != nullptr ? d : "/tmp", "/", name);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

CtrSpec SmallSpec(const std::string& dir) {
  CtrSpec spec;
  spec.out_dir = TmpDir(dir);
  spec.train_rows = 20000;
  spec.test_rows = 5000;
  spec.cardinality = {5000};
  return spec;
}

TEST_CASE("The same seed writes the same bytes, on any number of threads; another seed not") {
  CtrSpec a = SmallSpec("det_a"), b = SmallSpec("det_b"), c = SmallSpec("det_c");
  a.train_rows = b.train_rows = c.train_rows = 30000;  // several blocks of rows
  a.test_rows = b.test_rows = c.test_rows = 20000;
  a.threads = 1;
  b.threads = 3;
  c.seed = 2;
  REQUIRE(GenerateCtr(a).ok());
  REQUIRE(GenerateCtr(b).ok());
  REQUIRE(GenerateCtr(c).ok());
  for (const char* f : {"/train.txt", "/test.txt", "/ground_truth.json"}) {
    CHECK(ReadAll(a.out_dir + f) == ReadAll(b.out_dir + f));
  }
  CHECK(ReadAll(a.out_dir + "/train.txt") != ReadAll(c.out_dir + "/train.txt"));
  CHECK(ReadAll(a.out_dir + "/test.txt") != ReadAll(c.out_dir + "/test.txt"));
}

TEST_CASE("The CTR is near its target and the truth ranks well") {
  for (double target : {0.25, 0.05}) {
    CtrSpec spec = SmallSpec(absl::StrCat("ctr_", target));
    spec.target_ctr = target;
    absl::StatusOr<CtrGroundTruth> t = GenerateCtr(spec);
    REQUIRE(t.ok());
    const double ctr = static_cast<double>(t->train_positives) / t->train_rows;
    INFO("target " << target << " ctr " << ctr);
    CHECK(std::fabs(ctr - target) < 0.1 * target + 0.005);
    REQUIRE(t->bayes_auc.has_value());
    CHECK(*t->bayes_auc >= 0.7);
    CHECK(*t->bayes_auc < 0.99);
    REQUIRE(t->bayes_logloss.has_value());
    CHECK(*t->bayes_logloss < *t->constant_logloss);
    const std::string json = ReadAll(spec.out_dir + "/ground_truth.json");
    CHECK_THAT(json, Contains(absl::StrCat("\"rows\": 5000, \"positives\": ", t->test_positives)));
    CHECK_THAT(json, Contains("\"bayes_auc\": 0."));
    CHECK_THAT(json, Contains("\"cardinality\": [5000, 5000,"));
  }
}

// Reads a Criteo file of `spec`'s layout back with the worker's reader and scores every row
// with the planted model: the test-only path from files to the truth.
void ScoreFile(const CtrSpec& spec, const PlantedModel& model, const std::string& path,
               std::vector<double>* probs, std::vector<float>* labels) {
  CtrReaderOptions o;
  o.criteo = CriteoLayout{spec.dense, spec.fields};
  auto reader = CtrReader::Open({path}, o);
  REQUIRE(reader.ok());
  CtrBatch batch;
  std::vector<uint32_t> hashes(spec.fields);
  std::vector<uint8_t> missing(spec.fields);
  while (true) {
    absl::StatusOr<int64_t> n = (*reader)->Next(1000, &batch);
    REQUIRE(n.ok());
    if (*n == 0) break;
    for (int64_t r = 0; r < *n; ++r) {
      for (int f = 0; f < spec.fields; ++f) {
        const uint64_t key = batch.keys[r * spec.fields + f];
        if (CriteoKeyField(key) != f) FAIL("key " << key << " is not of field " << f);
        missing[f] = CriteoKeyMissing(key) ? 1 : 0;
        hashes[f] = missing[f] ? 0 : static_cast<uint32_t>(CriteoKeyHash(key));
      }
      probs->push_back(PlantedModel::Probability(
          model.Logit(hashes.data(), missing.data(), batch.dense.data() + r * spec.dense)));
      labels->push_back(batch.labels[r]);
    }
  }
}

TEST_CASE("The Bayes AUC and log loss printed are those recomputed from the files") {
  CtrSpec spec = SmallSpec("recompute");
  spec.gzip = true;
  spec.train_files = 3;
  spec.missing = 0.1;
  absl::StatusOr<CtrGroundTruth> t = GenerateCtr(spec);
  REQUIRE(t.ok());
  CHECK(t->train_files == std::vector<std::string>{"train-00000-of-00003.txt.gz",
                                                   "train-00001-of-00003.txt.gz",
                                                   "train-00002-of-00003.txt.gz"});
  CHECK(t->test_file == "test.txt.gz");
  REQUIRE(ValidateCtrSpec(&spec).ok());
  PlantedModel model(spec);
  model.set_bias(t->bias);
  CHECK(model.pairs() == t->pairs);
  std::vector<double> probs;
  std::vector<float> labels;
  ScoreFile(spec, model, spec.out_dir + "/" + t->test_file, &probs, &labels);
  REQUIRE(probs.size() == 5000);
  CHECK(*ExactAuc(probs, labels) == *t->bayes_auc);
  CHECK(*LogLoss(probs, labels) == *t->bayes_logloss);
  // The train files hold every train row once, with their positives.
  std::vector<double> train_probs;
  std::vector<float> train_labels;
  for (const std::string& f : t->train_files) {
    ScoreFile(spec, model, spec.out_dir + "/" + f, &train_probs, &train_labels);
  }
  CHECK(static_cast<int64_t>(train_labels.size()) == spec.train_rows);
  int64_t positives = 0;
  for (float y : train_labels) positives += y == 1.0f;
  CHECK(positives == t->train_positives);
}

TEST_CASE("Cardinalities per field, up to 10^8, and a field of one value") {
  CtrSpec spec = SmallSpec("cards");
  spec.fields = 3;
  spec.dense = 0;
  spec.interactions = 3;
  spec.missing = 0;
  spec.cardinality = {1, 100000000, 4294967296};
  spec.train_rows = 2000;
  spec.test_rows = 200;
  absl::StatusOr<CtrGroundTruth> t = GenerateCtr(spec);
  REQUIRE(t.ok());
  CtrReaderOptions o;
  o.criteo = CriteoLayout{0, 3};
  auto reader = CtrReader::Open({spec.out_dir + "/train.txt"}, o);
  REQUIRE(reader.ok());
  CtrBatch batch;
  REQUIRE(*(*reader)->Next(5000, &batch) == 2000);
  std::set<uint64_t> field0, field1;
  for (int64_t r = 0; r < 2000; ++r) {
    field0.insert(batch.keys[3 * r]);
    field1.insert(batch.keys[3 * r + 1]);
  }
  CHECK(field0.size() == 1);
  CHECK(field1.size() > 100);  // a long tail
}

TEST_CASE("A bad spec is an error naming its flag") {
  auto error = [](CtrSpec spec, bool set_out = true) {
    if (set_out) spec.out_dir = "x";
    absl::Status s = ValidateCtrSpec(&spec);
    CHECK(!s.ok());
    return std::string(s.message());
  };
  CtrSpec s;
  CHECK(error(CtrSpec{}, false) == "--out DIR is required");
  s.fields = 300;
  CHECK(error(s) == "--fields 300: must be in [1, 256]");
  s = CtrSpec{};
  s.cardinality = {1, 2};
  CHECK(error(s) == "--cardinality: 2 values for 26 fields (give one, or one per field)");
  s.cardinality = {0};
  CHECK(error(s) == "--cardinality of field 0: 0 is not in [1, 2^32]");
  s = CtrSpec{};
  s.fields = 3;
  s.interactions = 4;
  CHECK(error(s) == "--interactions 4: must be in [0, 3] for 3 fields");
  s = CtrSpec{};
  s.zipf = 0;
  CHECK(error(s) == "--zipf 0: must be in (0, 10]");
  s = CtrSpec{};
  s.target_ctr = 1;
  CHECK(error(s) == "--target_ctr 1: must be in (0, 1)");
  s = CtrSpec{};
  s.missing = 1;
  CHECK(error(s) == "--missing 1: must be in [0, 1)");
  s = CtrSpec{};
  s.train_files = 0;
  CHECK(error(s) == "--train_files 0: must be in [1, 100000]");
  s = CtrSpec{};
  s.threads = -1;
  CHECK(error(s) == "--threads -1: must be in [0, 256]");
}

TEST_CASE("No test rows: no AUC, and the JSON says so") {
  CtrSpec spec = SmallSpec("no_test");
  spec.train_rows = 10;
  spec.test_rows = 0;
  absl::StatusOr<CtrGroundTruth> t = GenerateCtr(spec);
  REQUIRE(t.ok());
  CHECK(!t->bayes_auc.has_value());
  CHECK_THAT(ReadAll(spec.out_dir + "/ground_truth.json"),
             Contains("\"ctr\": null, \"bayes_auc\": null, \"bayes_logloss\": null"));
}

}  // namespace
}  // namespace psd::datagen
