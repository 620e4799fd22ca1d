#include "tools/psdctl_top.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/names.h"
#include "tools/psdctl_format.h"

namespace psd {
namespace {

// "2 servers, 2 workers: 3 busy, 1 idle" (only the states that occur, in a fixed order).
std::string NodesSummary(const ListNodesResponse& nodes) {
  std::map<Role, int> roles;
  std::map<NodeState, int> states;
  for (const NodeStatus& n : nodes.nodes()) {
    ++roles[n.node().role()];
    ++states[n.state()];
  }
  auto count = [](int n, const char* one) { return absl::StrCat(n, " ", one, n == 1 ? "" : "s"); };
  std::vector<std::string> by_role, by_state;
  if (roles[ROLE_SERVER] > 0) by_role.push_back(count(roles[ROLE_SERVER], "server"));
  if (roles[ROLE_WORKER] > 0) by_role.push_back(count(roles[ROLE_WORKER], "worker"));
  for (NodeState s : {NODE_BUSY, NODE_IDLE, NODE_DEAD}) {
    if (states[s] > 0) by_state.push_back(absl::StrCat(states[s], " ", NodeStateName(s)));
  }
  if (by_role.empty()) return "none registered";
  return absl::StrCat(absl::StrJoin(by_role, ", "), ": ", absl::StrJoin(by_state, ", "));
}

std::vector<std::string> JobRow(const JobInfo& job) {
  const Progress& p = job.progress();
  const bool live = job.state() == JOB_RUNNING && HasProgress(p);
  std::string eta = "-";
  if (live && p.step() > 0 && p.total_steps() > p.step() && p.wall_seconds() > 0) {
    eta = ShortDuration((p.total_steps() - p.step()) * p.wall_seconds() / p.step());
  }
  std::string accuracy = "-";
  if (job.state() == JOB_SUCCEEDED) {
    accuracy = absl::StrFormat("%.4f", job.result().test_accuracy());
  } else if (HasProgress(p) && p.test_accuracy() >= 0) {
    accuracy = absl::StrFormat("%.4f", p.test_accuracy());
  }
  const int workers = job.worker_nodes_size();
  return {job.job_id(),
          JobStateName(job.state()),
          HasProgress(p) ? StepText(p) : "-",
          HasProgress(p) ? absl::StrFormat("%.4f", p.loss()) : "-",
          accuracy,
          live ? absl::StrFormat("%.0f", p.samples_per_sec()) : "-",
          live && workers > 0 ? absl::StrCat(p.live_workers(), "/", workers) : "-",
          eta,
          job.reason()};
}

}  // namespace

std::string TopFrame(const TopView& view, absl::Time now, int width) {
  std::vector<const JobInfo*> active, finished;
  for (const JobInfo& job : view.jobs.jobs()) {
    (IsFinished(job.state()) ? finished : active).push_back(&job);
  }
  int running = 0;
  for (const JobInfo* job : active) running += job->state() == JOB_RUNNING;
  std::string out =
      absl::StrCat("psd top  coordinator ", view.coordinator, "  ",
                   absl::FormatTime("%Y-%m-%d %H:%M:%S", now, absl::LocalTimeZone()), "\n");
  if (!view.error.empty()) {
    const bool older = view.nodes.nodes_size() > 0 || view.jobs.jobs_size() > 0;
    absl::StrAppend(&out, view.error, older ? " (figures below are older)" : "", "\n");
  }
  absl::StrAppend(&out, "nodes: ", NodesSummary(view.nodes), "\n");
  absl::StrAppend(&out, "jobs: ", running, " running, ", active.size() - running, " queued, ",
                  finished.size(), " finished\n");

  std::vector<std::vector<std::string>> rows = {
      {"JOB", "STATE", "STEP", "LOSS", "TEST_ACC", "SAMPLES/S", "WORKERS", "ETA", "REASON"}};
  for (const JobInfo* job : active) rows.push_back(JobRow(*job));
  // The latest finished ones: ListJobs lists jobs oldest first.
  const size_t first = finished.size() > kTopFinishedJobs ? finished.size() - kTopFinishedJobs : 0;
  for (size_t i = first; i < finished.size(); ++i) rows.push_back(JobRow(*finished[i]));
  if (rows.size() > 1) absl::StrAppend(&out, "\n", Table(rows));
  for (const JobInfo* job : active) {
    for (const Straggler& s : job->stragglers()) {
      absl::StrAppend(&out, "straggler in ", job->job_id(), ": ", StragglerText(s, "worker"), "\n");
    }
    for (const Straggler& s : job->slow_servers()) {
      absl::StrAppend(&out, "slow server in ", job->job_id(), ": ", StragglerText(s, "server"),
                      "\n");
    }
  }
  if (view.nodes.nodes_size() > 0) absl::StrAppend(&out, "\n", NodesTable(view.nodes, now));
  if (width <= 0) return out;
  std::string cut;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    absl::StrAppend(&cut, line.substr(0, static_cast<size_t>(width)), "\n");
  }
  cut.pop_back();  // StrSplit gave one more (empty) piece after the final newline
  return cut;
}

}  // namespace psd
