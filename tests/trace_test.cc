// psdctl trace on a real local cluster (deploy/local/cluster.sh; 2 servers, 2 workers, a
// Fashion-MNIST job): the file it writes is valid Chrome trace JSON with events from every
// worker and server, each worker's phases for every step of the window, RPC events naming the
// servers, and timestamps inside the window's wall span on the coordinator's clock. Bad
// requests get clear errors. The trace is kept in $TEST_UNDECLARED_OUTPUTS_DIR.
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using testing::CommandResult;
using testing::JobOptions;
using testing::LocalCluster;

constexpr int64_t kWindow = 5;  // steps traced

// Reports every 2 steps (workers hear of a trace that soon); far more steps than the test
// waits for: it is cancelled at the end.
JobOptions Job(const std::string& name) {
  JobOptions job{name, "log_every: 2\nmax_steps: 20000"};
  job.servers = 2;
  job.workers = 2;
  job.hidden = "[128, 64]";
  job.batch_size = 32;
  job.chunk_bytes = "32KiB";
  return job;
}

int64_t StatusStep(const LocalCluster& c, const std::string& job) {
  const std::string out = c.Psdctl({"status", job}).out;
  std::smatch m;
  if (!std::regex_search(out, m, std::regex(R"(step (\d+)/)"))) return -1;
  return std::stoll(m[1]);
}

const Struct& Obj(const Value& v) { return v.struct_value(); }
const Value& At(const Struct& s, const std::string& key) {
  static const Value kNull;
  auto it = s.fields().find(key);
  return it == s.fields().end() ? kNull : it->second;
}

std::string OutputPath(const std::string& name) {
  const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  return absl::StrCat(dir != nullptr && dir[0] != '\0' ? dir : testing::MakeTempDir("trace"), "/",
                      name);
}

TEST_CASE("psdctl trace writes a valid trace with every worker and server", "[trace][e2e]") {
  auto cluster = LocalCluster::Start(2, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  LocalCluster& c = **cluster;
  const std::string job = testing::SubmitJob(c, "traced", testing::FashionJob(Job("traced")));
  REQUIRE(testing::WaitForStep(c, job, 4, absl::Seconds(90)));

  // Bad requests first, while the job runs.
  CommandResult bad = c.Psdctl({"trace", job, "--steps", "7-3", "-o", "x.json"});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("--steps: expected steps A-B like 100-120 (A <= B), got "
                                      "'7-3'"));
  bad = c.Psdctl({"trace", job, "--steps", "0-5000", "-o", "x.json"});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("--steps: at most 1000 steps per trace"));
  bad = c.Psdctl({"trace", "no-such-job", "--steps", "1-2", "-o", "x.json"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("no job 'no-such-job'"));
  bad = c.Psdctl({"trace", job, "--steps", "0-1", "-o", "x.json"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("steps already; trace steps from"));

  // A window a little ahead of the job, retried further ahead if the job got there first:
  // refused (the window had begun) or armed late on the workers (they hear of a trace with
  // their next progress report, once every server is armed).
  const std::string path = OutputPath("trace.json");
  CommandResult traced;
  int64_t first = 0;
  absl::Time started, ended;
  for (int attempt = 0; attempt < 4; ++attempt) {
    const int64_t now = StatusStep(c, job);
    REQUIRE(now >= 0);
    first = now + 50 + 100 * attempt;
    started = absl::Now();
    traced = c.Psdctl({"--timeout", "90s", "trace", job, "--steps",
                       absl::StrCat(first, "-", first + kWindow - 1), "-o", path},
                      absl::Seconds(150));
    ended = absl::Now();
    const bool late = traced.err.find("steps already") != std::string::npos ||
                      traced.err.find("armed from step") != std::string::npos;
    if (!late) break;
  }
  INFO(traced.out << traced.err);
  REQUIRE(traced.exit_code == 0);
  CHECK_THAT(traced.out, Catch::Contains("events from 4 nodes written to " + path));
  CHECK_THAT(traced.err, !Catch::Contains("armed from step"));
  std::printf("%s%s", traced.err.c_str(), traced.out.c_str());

  Struct doc;
  const std::string json = testing::ReadFile(path);
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &doc).ok());
  CHECK(At(doc, "displayTimeUnit").string_value() == "ms");

  // Each node's clock error bound, by pid.
  std::map<int, double> error_us;
  for (const Value& n : At(Obj(At(doc, "otherData")), "nodes").list_value().values()) {
    const double error = At(Obj(n), "clock_error_us").number_value();
    CHECK(error >= 0);
    CHECK(error < 1e6);
    CHECK(At(Obj(n), "dropped_events").number_value() == 0);
    error_us[static_cast<int>(At(Obj(n), "pid").number_value())] = error;
  }
  REQUIRE(error_us.size() == 4);

  std::map<int, std::string> process;                  // pid -> "worker 0 (...)"
  std::map<int, std::set<int64_t>> step_events;        // pid -> steps with a "step" event
  std::map<int, std::set<std::string>> phases;         // pid -> phase names
  std::map<int, std::set<int64_t>> rpc_servers;        // pid -> servers its RPCs named
  std::map<int, int> events;                           // pid -> complete events
  std::map<int, std::set<std::string>> server_tracks;  // pid -> categories
  const double lo = static_cast<double>(absl::ToUnixMicros(started));
  const double hi = static_cast<double>(absl::ToUnixMicros(ended));
  int outside = 0;
  for (const Value& v : At(doc, "traceEvents").list_value().values()) {
    const Struct& e = Obj(v);
    const int pid = static_cast<int>(At(e, "pid").number_value());
    const std::string ph = At(e, "ph").string_value();
    if (ph == "M") {
      if (At(e, "name").string_value() == "process_name") {
        process[pid] = At(Obj(At(e, "args")), "name").string_value();
      }
      continue;
    }
    REQUIRE(ph == "X");
    ++events[pid];
    const std::string name = At(e, "name").string_value();
    const std::string cat = At(e, "cat").string_value();
    const Struct& args = Obj(At(e, "args"));
    const int64_t step = static_cast<int64_t>(At(args, "step").number_value());
    CHECK(step >= first);
    CHECK(step <= first + kWindow);  // a pull of step B reads for B + 1
    const double ts = At(e, "ts").number_value(), dur = At(e, "dur").number_value();
    CHECK(dur >= 0);
    // Inside the window's wall span on the coordinator's clock, up to the offset's error.
    const double slack = error_us[pid] + 1000;
    if (ts < lo - slack || ts + dur > hi + slack) ++outside;
    if (cat == "phases") {
      phases[pid].insert(name);
      if (name == "step") step_events[pid].insert(step);
    } else if (cat.rfind("rpc server ", 0) == 0) {
      rpc_servers[pid].insert(static_cast<int64_t>(At(args, "server").number_value()));
      CHECK(At(args, "bytes").number_value() > 0);
    } else {
      server_tracks[pid].insert(cat);
    }
  }
  CHECK(outside == 0);
  std::set<std::string> roles;
  for (const auto& [pid, label] : process) {
    INFO(label);
    CHECK(events[pid] > 0);
    if (label.rfind("worker ", 0) == 0) {
      roles.insert(label.substr(0, 8));
      std::set<int64_t> want;
      for (int64_t s = first; s < first + kWindow; ++s) want.insert(s);
      CHECK(step_events[pid] == want);
      for (const char* phase : {"data", "forward", "backward", "push", "wait", "pull"}) {
        CHECK(phases[pid].count(phase) == 1);
      }
      CHECK(rpc_servers[pid] == std::set<int64_t>{0, 1});
    } else {
      REQUIRE(label.rfind("server ", 0) == 0);
      roles.insert(label.substr(0, 8));
      CHECK(server_tracks[pid].count("requests") == 1);
      CHECK(server_tracks[pid].count("apply") == 1);
    }
  }
  CHECK(roles == std::set<std::string>{"worker 0", "worker 1", "server 0", "server 1"});

  CHECK(c.Psdctl({"cancel", job}).exit_code == 0);
  bad = c.Psdctl({"trace", job, "--steps", "1-2", "-o", "x.json"});
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("is not running"));
}

}  // namespace
}  // namespace psd
