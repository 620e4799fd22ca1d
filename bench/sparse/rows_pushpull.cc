// bench/sparse:rows_pushpull — rows/s of the sparse wire alone (no model): psd servers in this
// process (PsServer on 127.0.0.1 free ports, plaintext, a criteo dlrm job initialised with
// JobRegistry::Init, as bench/pushpull:latency does for dense tensors) and N worker threads, each
// with its own SparseClient, pulling then pushing the unique keys of Criteo-shaped batches
// (rows x fields keys, field f's values drawn Zipf(s) from its share of --keys; about 56k unique
// keys of 106,496 at the defaults). Prints, per configuration and consistency, the rows/s of
// pull and of push (all workers together: the sum of each worker's rows over its time in that
// phase; the median of --rounds rounds after --warmup unmeasured ones) and MB/s of row payload.
//   bazel run -c opt //bench/sparse:rows_pushpull -- [--configs=1x1,2x2]
//       [--consistency=async,sync] [--keys=1e6] [--rows=4096] [--dim=16] [--rounds=20]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/job_spec.h"
#include "common/placement.h"
#include "common/process_init.h"
#include "server/ps_server.h"
#include "worker/ctr_batch.h"
#include "worker/sparse_client.h"
#include "worker/unique_keys.h"

ABSL_FLAG(std::string, configs, "1x1,2x2", "Servers x workers configurations.");
ABSL_FLAG(std::string, consistency, "async,sync", "training.consistency values to measure.");
ABSL_FLAG(double, keys, 1e6, "Distinct keys in play (split evenly over the fields).");
ABSL_FLAG(double, zipf, 0.95, "Zipf exponent of each field's values.");
ABSL_FLAG(int, rows, 4096, "Rows per batch (each has one key per field).");
ABSL_FLAG(int, fields, 26, "Categorical fields.");
ABSL_FLAG(int, dim, 16, "model.embedding.dim (floats per row).");
ABSL_FLAG(std::string, optimizer, "adagrad", "model.embedding.optimizer.type.");
ABSL_FLAG(int, batches, 16, "Distinct batches per worker (cycled).");
ABSL_FLAG(int, rounds, 30, "Measured pull+push rounds per configuration.");
ABSL_FLAG(int, warmup, 5, "Unmeasured rounds first (rows are created on first pull).");
ABSL_FLAG(int, work_threads, 0, "PsServerOptions::work_threads.");
ABSL_FLAG(bool, group_by_owner, true,
          "Order each batch's unique keys by owning server, as psd's workers do (each server's "
          "keys and rows are then sent in place); false: first appearance (gathered per server).");

namespace psd {
namespace {

// Zipf(s) over [0, n): the inverse of a precomputed CDF (n doubles; fine up to 10^7 or so).
class Zipf {
 public:
  Zipf(int64_t n, double s) : cdf_(n) {
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) cdf_[k] = sum += std::pow(static_cast<double>(k + 1), -s);
    for (double& c : cdf_) c /= sum;
  }
  template <typename Rng>
  int64_t operator()(Rng& rng) const {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::min<int64_t>(std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin(),
                             static_cast<int64_t>(cdf_.size()) - 1);
  }

 private:
  std::vector<double> cdf_;
};

// The unique keys of `count` Criteo-shaped batches (the key rule of docs/sparse.md), grouped by
// SparseOwner over `groups` servers.
std::vector<std::vector<uint64_t>> MakeBatches(const Zipf& zipf, int count, uint64_t seed,
                                               int groups) {
  std::mt19937_64 rng(seed);
  const int rows = absl::GetFlag(FLAGS_rows), fields = absl::GetFlag(FLAGS_fields);
  std::vector<std::vector<uint64_t>> out;
  UniqueKeys unique;
  std::vector<uint64_t> keys(static_cast<size_t>(rows) * fields);
  for (int b = 0; b < count; ++b) {
    for (int r = 0; r < rows; ++r) {
      for (int f = 0; f < fields; ++f) {
        // A value's hash: a bijection of its rank (so distinct ranks stay distinct keys).
        const uint64_t rank = static_cast<uint64_t>(zipf(rng));
        keys[static_cast<size_t>(r) * fields + f] =
            CriteoKey(f, (rank * 0x9e3779b97f4a7c15ULL) & ((uint64_t{1} << 32) - 1));
      }
    }
    unique.Build(keys, groups, [groups](uint64_t key) { return SparseOwner(key, groups); });
    out.emplace_back(unique.keys().begin(), unique.keys().end());
  }
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

struct Result {
  double pull_rows_s = 0, push_rows_s = 0, unique = 0;
  int64_t table_rows = 0;
};

absl::StatusOr<Result> Measure(int num_servers, int num_workers, const std::string& consistency,
                               const Zipf& zipf) {
  const int dim = absl::GetFlag(FLAGS_dim);
  const std::string job = absl::StrCat("rows-", num_servers, "x", num_workers, "-", consistency);
  const std::string yaml =
      absl::StrCat("name: ", job,
                   "\nseed: 1\n"
                   "data: {format: criteo, train_files: [a], test_files: [b], categorical_fields: ",
                   absl::GetFlag(FLAGS_fields),
                   "}\n"
                   "model: {type: dlrm, hidden: [64, 32], embedding: {dim: ",
                   dim, ", optimizer: {type: ", absl::GetFlag(FLAGS_optimizer),
                   ", learning_rate: 0.01}}}\n"
                   "training: {consistency: ",
                   consistency, ", batch_size: ", absl::GetFlag(FLAGS_rows),
                   ", optimizer: {type: adagrad, learning_rate: 0.01}}\n"
                   "cluster: {servers: ",
                   num_servers, ", workers: ", num_workers, "}\n");
  auto spec = ParseJobSpec(yaml, job);
  if (!spec.ok()) return spec.status();
  std::vector<std::unique_ptr<PsServer>> servers;
  std::vector<std::string> addresses;
  for (int s = 0; s < num_servers; ++s) {
    PsServerOptions o;
    o.tls = TlsOptions::Insecure();
    o.work_threads = absl::GetFlag(FLAGS_work_threads);
    auto server = PsServer::Start(o);
    if (!server.ok()) return server.status();
    auto served = (*server)->jobs().Init(job, 1, *spec, s, num_workers);
    if (!served.ok()) return served.status();
    addresses.push_back(absl::StrCat("127.0.0.1:", (*server)->port()));
    servers.push_back(*std::move(server));
  }
  const int rounds = absl::GetFlag(FLAGS_warmup) + absl::GetFlag(FLAGS_rounds);
  // Seconds of each phase, [worker][round].
  std::vector<std::vector<double>> pull_s(num_workers, std::vector<double>(rounds));
  std::vector<std::vector<double>> push_s = pull_s;
  std::vector<std::vector<double>> rows(num_workers, std::vector<double>(rounds));
  std::vector<absl::Status> errors(num_workers);
  std::vector<double> unique(num_workers);
  std::vector<std::vector<std::vector<uint64_t>>> batches(num_workers);
  for (int w = 0; w < num_workers; ++w) {
    batches[w] = MakeBatches(zipf, absl::GetFlag(FLAGS_batches), 100 + w,
                             absl::GetFlag(FLAGS_group_by_owner) ? num_servers : 1);
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < num_workers; ++w) {
    threads.emplace_back([&, w] {
      PsClient::Options o;
      o.job_id = job;
      o.generation = 1;
      o.worker = w;
      o.total_steps = rounds;
      o.tls = TlsOptions::Insecure();
      auto client = SparseClient::Create(addresses, o);
      if (!client.ok()) {
        errors[w] = client.status();
        return;
      }
      std::vector<float> out, grads;
      for (int r = 0; r < rounds; ++r) {
        const std::vector<uint64_t>& keys = batches[w][r % batches[w].size()];
        out.resize(keys.size() * dim);
        grads.assign(keys.size() * dim, 1e-3f);
        absl::Time t0 = absl::Now();
        absl::Status s = (*client)->Pull(keys, r, dim, false, absl::MakeSpan(out));
        pull_s[w][r] = absl::ToDoubleSeconds(absl::Now() - t0);
        t0 = absl::Now();
        if (s.ok()) s = (*client)->Push(keys, grads, dim, r);
        push_s[w][r] = absl::ToDoubleSeconds(absl::Now() - t0);
        rows[w][r] = static_cast<double>(keys.size());
        if (!s.ok()) {
          errors[w] = s;
          (*client)->Cancel();
          return;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& e : errors) {
    if (!e.ok()) return e;
  }
  Result result;
  std::vector<double> pull_rate, push_rate;
  for (int r = absl::GetFlag(FLAGS_warmup); r < rounds; ++r) {
    double pull = 0, push = 0;
    for (int w = 0; w < num_workers; ++w) {
      pull += rows[w][r] / pull_s[w][r];
      push += rows[w][r] / push_s[w][r];
      result.unique += rows[w][r];
    }
    pull_rate.push_back(pull);
    push_rate.push_back(push);
  }
  result.unique /= absl::GetFlag(FLAGS_rounds) * num_workers;
  result.pull_rows_s = Median(pull_rate);
  result.push_rows_s = Median(push_rate);
  for (auto& s : servers) {
    auto served = s->jobs().Get(job, 1);
    if (served.ok() && (*served)->sparse != nullptr) {
      result.table_rows += (*served)->sparse->stats().rows;
    }
  }
  return result;
}

int Main() {
  const int fields = absl::GetFlag(FLAGS_fields);
  const int64_t per_field =
      std::max<int64_t>(1, static_cast<int64_t>(absl::GetFlag(FLAGS_keys) / fields));
  const Zipf zipf(per_field, absl::GetFlag(FLAGS_zipf));
  const int dim = absl::GetFlag(FLAGS_dim);
  std::printf(
      "sparse rows: %d fields x %ld values (Zipf %.2f), batches of %d rows, dim %d, %s rows; "
      "plaintext, servers in this process\n",
      fields, static_cast<long>(per_field), absl::GetFlag(FLAGS_zipf), absl::GetFlag(FLAGS_rows),
      dim, absl::GetFlag(FLAGS_optimizer).c_str());
  std::printf("%-6s %-8s %10s %14s %14s %10s %10s %12s\n", "config", "mode", "unique/b",
              "pull rows/s", "push rows/s", "pull MB/s", "push MB/s", "table rows");
  for (absl::string_view config : absl::StrSplit(absl::GetFlag(FLAGS_configs), ',')) {
    std::vector<std::string> sw = absl::StrSplit(config, 'x');
    int s = 0, w = 0;
    if (sw.size() != 2 || !absl::SimpleAtoi(sw[0], &s) || !absl::SimpleAtoi(sw[1], &w) || s < 1 ||
        w < 1) {
      std::fprintf(stderr, "--configs: want SxW, got %s\n", std::string(config).c_str());
      return 2;
    }
    for (absl::string_view mode : absl::StrSplit(absl::GetFlag(FLAGS_consistency), ',')) {
      auto r = Measure(s, w, std::string(mode), zipf);
      if (!r.ok()) {
        std::fprintf(stderr, "%s %s: %s\n", std::string(config).c_str(), std::string(mode).c_str(),
                     r.status().ToString().c_str());
        return 1;
      }
      const double mb = dim * 4 / 1e6;
      std::printf("%-6s %-8s %10.0f %14.0f %14.0f %10.1f %10.1f %12ld\n",
                  std::string(config).c_str(), std::string(mode).c_str(), r->unique, r->pull_rows_s,
                  r->push_rows_s, r->pull_rows_s * mb, r->push_rows_s * mb,
                  static_cast<long>(r->table_rows));
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace
}  // namespace psd

int main(int argc, char** argv) {
  psd::InitProcess();
  absl::ParseCommandLine(argc, argv);
  return psd::Main();
}
