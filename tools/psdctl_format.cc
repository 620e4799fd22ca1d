#include "tools/psdctl_format.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/memory_estimate.h"

namespace psd {
namespace {

std::string Timestamp(int64_t ms) {
  if (ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMillis(ms), absl::LocalTimeZone());
}

}  // namespace

const char* NodeStateName(NodeState state) {
  switch (state) {
    case NODE_IDLE:
      return "idle";
    case NODE_BUSY:
      return "busy";
    case NODE_DEAD:
      return "dead";
    default:
      return "unknown";
  }
}

std::string Table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i]);
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

std::string StepText(const Progress& p) {
  if (p.total_steps() > 0) return absl::StrCat(p.step(), "/", p.total_steps());
  return absl::StrCat(p.step());
}

bool HasProgress(const Progress& p) { return p.timestamp_ms() > 0 || p.step() > 0; }

bool IsFinished(JobState state) {
  return state == JOB_SUCCEEDED || state == JOB_FAILED || state == JOB_CANCELLED;
}

bool IsRecovering(const JobInfo& job) {
  return job.state() == JOB_RUNNING && absl::StartsWith(job.reason(), "recovering: ");
}

std::string FailureLine(int code, absl::string_view message, absl::string_view address) {
  if (!absl::StripAsciiWhitespace(message).empty()) return absl::StrCat("psdctl: ", message);
  const absl::StatusCode status = static_cast<absl::StatusCode>(code);  // gRPC's codes
  return absl::StrCat(
      "psdctl: the coordinator at ", address, " answered ", absl::StatusCodeToString(status),
      " without a message",
      status == absl::StatusCode::kInternal ? " (a request it could not read?)" : "");
}

std::string ShortDuration(double seconds) {
  const int64_t s = static_cast<int64_t>(std::max(0.0, seconds) + 0.5);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string ProgressLine(const Progress& p) {
  if (!HasProgress(p)) return "waiting for the first progress report";
  std::vector<std::string> parts;
  if (p.epochs() > 0) parts.push_back(absl::StrCat("epoch ", p.epoch() + 1, "/", p.epochs()));
  parts.push_back(absl::StrCat("step ", StepText(p)));
  parts.push_back(absl::StrFormat("loss %.4f", p.loss()));
  if (p.test_auc() != 0) {  // a sparse model: negative until its first evaluation
    parts.push_back(p.test_auc() > 0 ? absl::StrFormat("test_auc %.4f logloss %.4f", p.test_auc(),
                                                       p.test_logloss())
                                     : std::string("test_auc -"));
  } else {
    parts.push_back(p.test_accuracy() >= 0 ? absl::StrFormat("test_acc %.4f", p.test_accuracy())
                                           : std::string("test_acc -"));
  }
  parts.push_back(absl::StrFormat("%.0f samples/s", p.samples_per_sec()));
  if (p.step() > 0 && p.total_steps() > p.step() && p.wall_seconds() > 0) {
    const double eta = (p.total_steps() - p.step()) * p.wall_seconds() / p.step();
    parts.push_back(absl::StrCat("ETA ", ShortDuration(eta)));
  }
  return absl::StrJoin(parts, "  ");
}

std::string ProgressBar(const Progress& p, int width) {
  constexpr int kBar = 20;
  const double fraction =
      p.total_steps() > 0 ? std::clamp(static_cast<double>(p.step()) / p.total_steps(), 0.0, 1.0)
                          : 0.0;
  const int filled = static_cast<int>(fraction * kBar);
  std::string bar(kBar, ' ');
  std::fill(bar.begin(), bar.begin() + filled, '=');
  if (filled < kBar && filled > 0) bar[filled] = '>';
  std::string line =
      absl::StrFormat("[%s] %3d%%  %s", bar, static_cast<int>(fraction * 100), ProgressLine(p));
  if (width > 0 && static_cast<int>(line.size()) > width) line.resize(width);
  return line;
}

std::string FinalLine(const JobInfo& job) {
  if (job.state() != JOB_SUCCEEDED) {
    return absl::StrCat("job ", job.job_id(), " ", JobStateName(job.state()), ": ", job.reason());
  }
  // The job's own wall time (start to end, recoveries included); the workers' training time
  // when the coordinator has no end time.
  double wall = job.result().wall_seconds();
  if (job.started_ms() > 0 && job.ended_ms() > job.started_ms()) {
    wall = (job.ended_ms() - job.started_ms()) / 1000.0;
  }
  if (job.result().test_auc() > 0) {
    return absl::StrFormat("job %s succeeded: test_auc=%.4f test_logloss=%.4f wall_s=%.1f",
                           job.job_id(), job.result().test_auc(), job.result().test_loss(), wall);
  }
  return absl::StrFormat("job %s succeeded: test_accuracy=%.4f wall_s=%.1f", job.job_id(),
                         job.result().test_accuracy(), wall);
}

std::string FaultsText(const JobFaults& faults) {
  std::vector<std::string> parts;
  auto count = [](int64_t n, absl::string_view one, absl::string_view many) {
    return absl::StrCat(n, " ", n == 1 ? one : many);
  };
  if (faults.checkpoint_failures() > 0) {
    parts.push_back(count(faults.checkpoint_failures(), "checkpoint failed to write",
                          "checkpoints failed to write"));
  }
  if (faults.nonfinite_pushes_rejected() > 0) {
    parts.push_back(count(faults.nonfinite_pushes_rejected(),
                          "push refused for non-finite gradients",
                          "pushes refused for non-finite gradients"));
  }
  if (faults.nonfinite_chunks_skipped() > 0) {
    parts.push_back(count(faults.nonfinite_chunks_skipped(),
                          "chunk of non-finite gradients skipped",
                          "chunks of non-finite gradients skipped"));
  }
  return absl::StrJoin(parts, "; ");
}

// `role` "worker" (figures per step) or "server" (per chunk RPC).
std::string StragglerText(const Straggler& s, const char* role) {
  return absl::StrFormat(
      "%s %d (%s): %s %.1f ms per %s, the others %.1f ms (%.1fx), since step %d", role, s.rank(),
      s.node_id(), s.phase(), s.seconds_per_step() * 1e3,
      std::string(role) == "server" ? "call" : "step", s.others_seconds_per_step() * 1e3,
      s.seconds_per_step() / std::max(1e-9, s.others_seconds_per_step()), s.since_step());
}

std::string ServersTable(const JobInfo& job) {
  std::vector<std::vector<std::string>> rows = {
      {"  RANK", "NODE", "CALLS", "RPC MS", "SERVER MS", "NETWORK MS", "MB/S", "SLOW"}};
  for (const ServerLoad& l : job.servers()) {
    std::string slow = "-";
    for (const Straggler& s : job.slow_servers()) {
      if (s.rank() == l.rank()) slow = s.phase();
    }
    rows.push_back(
        {absl::StrCat("  ", l.rank()), l.node_id(), absl::StrCat(l.calls()),
         absl::StrFormat("%.2f", l.rpc_seconds() * 1e3),
         absl::StrFormat("%.2f", l.apply_seconds() * 1e3),
         absl::StrFormat("%.2f", std::max(0.0, l.rpc_seconds() - l.apply_seconds()) * 1e3),
         absl::StrFormat("%.1f", l.bytes_per_second() / 1e6), slow});
  }
  return Table(rows);
}

std::string WorkersTable(const JobInfo& job) {
  std::vector<std::vector<std::string>> rows = {{"  RANK", "NODE", "STEP", "SAMPLES/S", "STEP",
                                                 "DATA", "FWD", "BWD", "PUSH", "WAIT", "PULL",
                                                 "STRAGGLER"}};
  auto ms = [](double seconds) { return absl::StrFormat("%.1f", seconds * 1e3); };
  for (const WorkerProgress& w : job.workers()) {
    std::string straggler = "-";
    for (const Straggler& s : job.stragglers()) {
      if (s.rank() == w.rank()) straggler = s.phase();
    }
    const StepPhases& p = w.phases();
    if (p.steps() == 0) {
      rows.push_back({absl::StrCat("  ", w.rank()), w.node_id(), absl::StrCat(w.step()),
                      absl::StrFormat("%.0f", w.samples_per_sec()), "-", "-", "-", "-", "-", "-",
                      "-", straggler});
      continue;
    }
    rows.push_back({absl::StrCat("  ", w.rank()), w.node_id(), absl::StrCat(w.step()),
                    absl::StrFormat("%.0f", w.samples_per_sec()), ms(p.step()), ms(p.data()),
                    ms(p.forward()), ms(p.backward()), ms(p.push()), ms(p.wait()), ms(p.pull()),
                    straggler});
  }
  return Table(rows);
}

std::string WorkerDevicesText(const JobInfo& job) {
  std::vector<std::string> parts;
  for (const WorkerProgress& w : job.workers()) {
    if (w.devices_size() == 0) continue;
    std::vector<std::string> names;
    for (const Device& d : w.devices()) names.push_back(absl::StrCat(d.kind(), ":", d.index()));
    parts.push_back(absl::StrCat("worker ", w.rank(), " ", absl::StrJoin(names, ",")));
  }
  return absl::StrJoin(parts, "; ");
}

std::string JobStatusText(const JobInfo& job, absl::Time now) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"job", absl::StrCat(job.job_id(), " (", job.name(), ")")});
  rows.push_back({"state", absl::StrCat(JobStateName(job.state()), ": ", job.reason())});
  std::string submitted = Timestamp(job.submitted_ms());
  if (job.submitted_ms() > 0) {
    absl::StrAppend(
        &submitted, " (",
        ShortDuration(absl::ToDoubleSeconds(now - absl::FromUnixMillis(job.submitted_ms()))),
        " ago)");
  }
  rows.push_back({"submitted", submitted});
  rows.push_back({"started", Timestamp(job.started_ms())});
  rows.push_back({"ended", Timestamp(job.ended_ms())});
  if (job.server_nodes_size() > 0 || job.worker_nodes_size() > 0) {
    rows.push_back({"servers", absl::StrJoin(job.server_nodes(), ", ")});
    rows.push_back({"workers", absl::StrJoin(job.worker_nodes(), ", ")});
    rows.push_back({"generation", absl::StrCat(job.generation())});
  }
  if (const std::string devices = WorkerDevicesText(job); !devices.empty()) {
    rows.push_back({"devices", devices});
  }
  if (job.state() != JOB_QUEUED) {
    rows.push_back({"progress", IsRecovering(job)
                                    ? absl::StrCat("paused: ", ProgressLine(job.progress()))
                                    : ProgressLine(job.progress())});
  }
  if (job.tables_size() > 0) {
    std::vector<std::string> parts;
    for (const SparseTableStats& t : job.tables()) {
      const double raw = static_cast<double>(t.rows()) * t.raw_row_bytes();
      parts.push_back(absl::StrFormat(
          "server %d: %d rows, %s (%.2fx raw), %d evictions%s", t.rank(), t.rows(),
          FormatMemory(t.memory_bytes()), raw > 0 ? t.memory_bytes() / raw : 0.0, t.evictions(),
          t.not_admitted_updates() > 0
              ? absl::StrFormat(", %d updates of unadmitted keys dropped", t.not_admitted_updates())
              : ""));
    }
    rows.push_back({"tables", absl::StrJoin(parts, "; ")});
  }
  if (job.state() == JOB_SUCCEEDED) {
    const JobResult& r = job.result();
    const std::string metric =
        r.test_auc() > 0
            ? absl::StrFormat("test_auc=%.4f test_logloss=%.4f", r.test_auc(), r.test_loss())
            : absl::StrFormat("test_accuracy=%.4f test_loss=%.4f", r.test_accuracy(),
                              r.test_loss());
    rows.push_back({"result", absl::StrFormat("%s steps=%d wall_s=%.1f max_staleness=%d", metric,
                                              r.steps(), r.wall_seconds(), r.max_staleness())});
    if (!r.model_path().empty()) rows.push_back({"model", r.model_path()});
  }
  if (const std::string faults = FaultsText(job.faults()); !faults.empty()) {
    rows.push_back({"faults", faults});
  }
  for (const Straggler& s : job.stragglers()) {
    rows.push_back({"straggler", StragglerText(s, "worker")});
  }
  for (const Straggler& s : job.slow_servers()) {
    rows.push_back({"slow server", StragglerText(s, "server")});
  }
  std::string out = Table(rows);
  if (job.state() == JOB_RUNNING && job.workers_size() > 0) {
    absl::StrAppend(&out, "workers (ms per step, over the last report)\n", WorkersTable(job));
  }
  if (job.state() == JOB_RUNNING && job.servers_size() > 0) {
    absl::StrAppend(&out, "servers (ms per chunk RPC, over the workers' last reports)\n",
                    ServersTable(job));
  }
  if (job.events_size() > 0) {
    absl::StrAppend(&out, "events\n");
    for (const std::string& e : job.events()) absl::StrAppend(&out, "  ", e, "\n");
  }
  return out;
}

std::string JobsTable(const ListJobsResponse& jobs) {
  std::vector<std::vector<std::string>> rows = {{"JOB", "STATE", "SUBMITTED", "STEP", "REASON"}};
  for (const JobInfo& job : jobs.jobs()) {
    rows.push_back({job.job_id(), JobStateName(job.state()), Timestamp(job.submitted_ms()),
                    job.state() == JOB_QUEUED ? "-" : StepText(job.progress()), job.reason()});
  }
  return Table(rows);
}

std::string NodesTable(const ListNodesResponse& nodes, absl::Time now) {
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "ROLE", "ADDRESS", "STATE", "JOB", "RANK", "DEVICES", "HEARTBEAT"}};
  for (const NodeStatus& n : nodes.nodes()) {
    std::vector<std::string> devices;
    for (const Device& d : n.node().devices()) {
      devices.push_back(d.detail().empty() ? absl::StrCat(d.kind(), ":", d.index())
                                           : absl::StrCat(d.kind(), ":", d.index(), "(unusable)"));
    }
    const std::string heartbeat =
        n.last_heartbeat_ms() > 0
            ? absl::StrFormat("%.1fs ago", absl::ToDoubleSeconds(
                                               now - absl::FromUnixMillis(n.last_heartbeat_ms())))
            : "-";
    rows.push_back({n.node().node_id(), RoleName(n.node().role()), n.node().address(),
                    NodeStateName(n.state()), n.job_id().empty() ? "-" : n.job_id(),
                    n.rank() >= 0 && !n.job_id().empty() ? absl::StrCat(n.rank()) : "-",
                    devices.empty() ? "-" : absl::StrJoin(devices, ","), heartbeat});
  }
  std::string out = Table(rows);
  if (!nodes.denied_calls().empty()) {
    // Sorted by method: the proto map's order is unspecified.
    std::map<std::string, int64_t> denied(nodes.denied_calls().begin(), nodes.denied_calls().end());
    int64_t total = 0;
    std::vector<std::string> parts;
    for (const auto& [method, n] : denied) {
      total += n;
      parts.push_back(absl::StrCat(method, " ", n));
    }
    absl::StrAppend(
        &out, "the coordinator refused ", total, total == 1 ? " call" : " calls",
        " since it started (unauthenticated or not allowed): ", absl::StrJoin(parts, ", "), "\n");
  }
  return out;
}

}  // namespace psd
