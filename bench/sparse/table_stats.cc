// bench/sparse:table_stats — the embedding table on each psd server while a job runs: polls
// GetStats (ServerStats.table) of every server of a plaintext cluster (cluster.sh --insecure)
// every --interval_ms until the job is gone from all of them (or --while_pid has exited, or
// --timeout_s), then prints the last figures each server gave: rows, memory bytes, evictions,
// not-admitted updates, lookups.
//   table_stats --servers=127.0.0.1:7071,127.0.0.1:7072 --job=JOB [--generation=1]
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "proto/parameter_server.grpc.pb.h"

ABSL_FLAG(std::string, servers, "", "Comma-separated host:port of the servers, by rank.");
ABSL_FLAG(std::string, job, "", "The job id.");
ABSL_FLAG(int64_t, generation, 1, "The job's generation on the servers.");
ABSL_FLAG(int, interval_ms, 200, "Poll interval.");
ABSL_FLAG(int, timeout_s, 600, "Give up after this long.");
ABSL_FLAG(int, start_timeout_s, 120, "Give up when no server has the job by then.");
ABSL_FLAG(int, while_pid, 0, "Also stop once this process (e.g. psdctl submit --wait) is gone.");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::vector<std::string> addresses =
      absl::StrSplit(absl::GetFlag(FLAGS_servers), ',', absl::SkipEmpty());
  if (addresses.empty() || absl::GetFlag(FLAGS_job).empty()) {
    std::fprintf(stderr, "table_stats: --servers and --job are required\n");
    return 2;
  }
  std::vector<std::unique_ptr<psd::ParameterServer::Stub>> stubs;
  for (const std::string& a : addresses) {
    stubs.push_back(
        psd::ParameterServer::NewStub(grpc::CreateChannel(a, grpc::InsecureChannelCredentials())));
  }
  const size_t n = stubs.size();
  std::vector<psd::ServerStats> last(n);
  std::vector<bool> seen(n, false);
  const absl::Time start = absl::Now();
  while (absl::Now() - start < absl::Seconds(absl::GetFlag(FLAGS_timeout_s))) {
    int serving = 0;
    for (size_t s = 0; s < n; ++s) {
      psd::GetStatsRequest req;
      req.set_job_id(absl::GetFlag(FLAGS_job));
      req.set_generation(absl::GetFlag(FLAGS_generation));
      psd::ServerStats resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
      if (stubs[s]->GetStats(&ctx, req, &resp).ok()) {
        last[s] = resp;
        seen[s] = true;
        ++serving;
      }
    }
    bool any_seen = false;
    for (bool b : seen) any_seen = any_seen || b;
    if (any_seen && serving == 0) break;  // the job has ended everywhere
    const int pid = absl::GetFlag(FLAGS_while_pid);
    if (pid > 0 && kill(pid, 0) != 0) break;
    if (!any_seen && absl::Now() - start > absl::Seconds(absl::GetFlag(FLAGS_start_timeout_s))) {
      std::fprintf(stderr, "table_stats: no server served job %s\n",
                   absl::GetFlag(FLAGS_job).c_str());
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(absl::GetFlag(FLAGS_interval_ms)));
  }
  std::printf("%-7s %12s %14s %12s %14s %12s %10s\n", "server", "table rows", "memory bytes",
              "evictions", "not admitted", "lookups", "step");
  int64_t rows = 0, evictions = 0;
  for (size_t s = 0; s < n; ++s) {
    const psd::SparseTableStats& t = last[s].table();
    std::printf("%-7zu %12ld %14ld %12ld %14ld %12ld %10ld%s\n", s, static_cast<long>(t.rows()),
                static_cast<long>(t.memory_bytes()), static_cast<long>(t.evictions()),
                static_cast<long>(t.not_admitted_updates()), static_cast<long>(t.lookups()),
                static_cast<long>(t.step()), seen[s] ? "" : "  (never answered)");
    rows += t.rows();
    evictions += t.evictions();
  }
  std::printf("total   %12ld %14s %12ld\n", static_cast<long>(rows), "",
              static_cast<long>(evictions));
  bool any_lookups = false;
  for (size_t s = 0; s < n; ++s) any_lookups = any_lookups || last[s].table().lookups() > 0;
  if (!any_lookups) {
    std::printf(
        "(no table figures: these servers' GetStats leaves ServerStats.table empty, or the job "
        "is not sparse)\n");
  }
  return 0;
}
