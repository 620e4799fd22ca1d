// JobManager's step timelines (psdctl trace; docs/observability.md, "Step timelines"): arm a
// window of steps on a running job's servers (ParameterServer/Trace) and workers (the answer to
// their progress reports), wait for the workers' ReportTrace parts, collect the servers', and
// merge everything onto this coordinator's clock.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock_offset.h"
#include "common/trace_json.h"
#include "common/trace_proto.h"
#include "coordinator/job_manager.h"
#include "coordinator/server_calls.h"
#include "proto/names.h"

namespace psd {
namespace {

// How long TraceJob waits for the job to pass the window when the request names no timeout,
// and the longest it waits at all.
constexpr absl::Duration kDefaultTraceTimeout = absl::Minutes(5);
constexpr absl::Duration kMaxTraceTimeout = absl::Hours(1);
// Clock samples per server: the one with the shortest round trip bounds its offset best.
constexpr int kClockSamples = 5;

struct ServerTarget {
  int rank;
  std::string node_id, address;
};

absl::Status CheckSteps(int64_t first, int64_t last) {
  if (first < 0 || last < first) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps: want A-B with 0 <= A <= B, got '", first, "-", last, "'"));
  }
  if (last - first + 1 > kMaxTraceSteps) {
    return absl::InvalidArgumentError(absl::StrCat("steps: at most ", kMaxTraceSteps,
                                                   " steps per trace, got ", last - first + 1, " (",
                                                   first, "-", last, ")"));
  }
  return absl::OkStatus();
}

// Pings the server a few times (its clock offset), then sends `request`.
absl::StatusOr<TraceResponse> CallWithClock(const ServerTarget& s, const TraceRequest& request,
                                            absl::Duration timeout, const TlsOptions& tls,
                                            ClockOffset* offset) {
  std::vector<ClockSample> samples;
  TraceRequest ping;
  ping.set_action(TraceRequest::ACTION_PING);
  for (int i = 0; i < kClockSamples; ++i) {
    ClockSample sample;
    absl::StatusOr<TraceResponse> r = CallTrace(s.rank, s.address, ping, timeout, tls, &sample);
    if (!r.ok()) return r.status();
    samples.push_back(sample);
  }
  ClockSample sample;
  absl::StatusOr<TraceResponse> r = CallTrace(s.rank, s.address, request, timeout, tls, &sample);
  if (r.ok()) samples.push_back(sample);
  *offset = BetterClockOffset(*offset, EstimateClockOffset(samples));
  return r;
}

}  // namespace

absl::StatusOr<TraceJobResponse> JobManager::TraceJob(const TraceJobRequest& request,
                                                      const std::function<bool()>& cancelled) {
  if (absl::Status s = CheckSteps(request.first_step(), request.last_step()); !s.ok()) return s;
  const absl::Duration timeout =
      request.timeout_ms() > 0
          ? std::min(absl::Milliseconds(request.timeout_ms()), kMaxTraceTimeout)
          : kDefaultTraceTimeout;
  const absl::Time deadline = absl::Now() + timeout;
  const std::string& id = request.job_id();
  TraceRequest arm;
  std::vector<ServerTarget> servers;
  std::vector<std::string> worker_nodes;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Job*> found = GetJobOrError(id);
    if (!found.ok()) return found.status();
    Job& job = **found;
    if (!job.running()) {
      return absl::FailedPreconditionError(absl::StrCat("job ", id, " is not running (",
                                                        JobStateName(job.info().state()),
                                                        "): only a running "
                                                        "job can be traced"));
    }
    if (job.recovering()) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", id, " is ", job.info().reason(), "; trace it once it runs again"));
    }
    if (job.trace.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", id, " is being traced already (steps ", job.trace->steps.first_step(), "-",
          job.trace->steps.last_step(), "); one trace at a time"));
    }
    const int64_t total = job.info().progress().total_steps();
    if (total > 0 && request.last_step() >= total) {
      return absl::InvalidArgumentError(
          absl::StrCat("steps: job ", id, " has ", total, " steps (0-", total - 1, "), got '",
                       request.first_step(), "-", request.last_step(), "'"));
    }
    int64_t done = 0;  // steps the furthest worker has completed
    for (const auto& [rank, p] : job.latest) done = std::max(done, p.step());
    if (request.first_step() < done) {
      return absl::FailedPreconditionError(
          absl::StrCat("steps: job ", id, " has run ", done, " steps already; trace steps from ",
                       done + job.spec.training.log_every,
                       " on (workers hear of a trace with their next "
                       "progress report, every ",
                       job.spec.training.log_every, " steps)"));
    }
    job.trace.emplace();
    job.trace_servers_armed = false;
    job.trace->steps.set_trace_id(next_trace_id_++);
    job.trace->steps.set_first_step(request.first_step());
    job.trace->steps.set_last_step(request.last_step());
    arm.set_job_id(id);
    arm.set_generation(job.info().generation());
    arm.set_action(TraceRequest::ACTION_ARM);
    *arm.mutable_steps() = job.trace->steps;
    for (size_t r = 0; r < job.rec.servers.size(); ++r) {
      servers.push_back(
          {static_cast<int>(r), job.rec.servers[r].node_id, job.rec.servers[r].address});
    }
    for (const MemberRecord& m : job.rec.workers) worker_nodes.push_back(m.node_id);
  }
  const int64_t trace_id = arm.steps().trace_id();
  spdlog::info("job {}: trace {} of steps {}-{} on {} servers and {} workers", id, trace_id,
               request.first_step(), request.last_step(), servers.size(), worker_nodes.size());
  auto forget = [&] {
    absl::MutexLock lock(&mu_);
    if (Job* job = FindJob(id);
        job != nullptr && job->trace.has_value() && job->trace->steps.trace_id() == trace_id) {
      job->trace.reset();
    }
  };
  TraceRequest collect = arm;
  collect.set_action(TraceRequest::ACTION_COLLECT);
  collect.clear_steps();
  // Servers: arm each (its clock measured first).
  std::vector<ClockOffset> server_clocks(servers.size());
  for (const ServerTarget& s : servers) {
    absl::StatusOr<TraceResponse> r =
        CallWithClock(s, arm, options_.server_rpc_timeout, options_.tls, &server_clocks[s.rank]);
    if (!r.ok()) {
      for (const ServerTarget& armed : servers) {
        if (armed.rank >= s.rank) break;
        ClockSample ignored;
        (void)CallTrace(armed.rank, armed.address, collect, options_.server_rpc_timeout,
                        options_.tls, &ignored);
      }
      forget();
      return absl::Status(r.status().code(),
                          absl::StrCat("cannot arm the trace: ", r.status().message()));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (Job* job = FindJob(id);
        job != nullptr && job->trace.has_value() && job->trace->steps.trace_id() == trace_id) {
      job->trace_servers_armed = true;
    }
  }
  // Workers: they arm with their next progress report and send once past the last step.
  std::vector<std::string> missing;
  std::map<int, WorkerTrace> workers;
  std::string ended;
  {
    absl::MutexLock lock(&mu_);
    while (true) {
      Job* job = FindJob(id);
      if (job == nullptr || !job->trace.has_value() || job->trace->steps.trace_id() != trace_id) {
        ended = "the trace was dropped";
        break;
      }
      missing.clear();
      for (int rank : LiveWorkerRanks(*job)) {
        auto it = job->trace->workers.find(rank);
        if (it == job->trace->workers.end() || !it->second.done) {
          missing.push_back(
              absl::StrCat("worker ", rank, " (", job->rec.workers[rank].node_id, ")"));
        }
      }
      if (missing.empty()) break;
      if (!job->running()) {
        ended = absl::StrCat("job ", id, " ended (", JobStateName(job->info().state()), ")");
        break;
      }
      if (shutting_down_) {
        ended = "the coordinator is shutting down";
        break;
      }
      if (cancelled && cancelled()) {
        ended = "the caller went away";
        break;
      }
      if (absl::Now() >= deadline) {
        ended = absl::StrCat("no complete trace within ", absl::FormatDuration(timeout),
                             " (the job is at step ", job->info().progress().step(), ")");
        break;
      }
      changed_.WaitWithDeadline(&mu_, std::min(deadline, absl::Now() + absl::Seconds(1)));
    }
    Job* job = FindJob(id);
    if (job != nullptr && job->trace.has_value() && job->trace->steps.trace_id() == trace_id) {
      workers = std::move(job->trace->workers);
      job->trace.reset();
    }
  }
  // Servers: collect (which also disarms them), measuring their clocks once more.
  std::vector<TraceResponse> collected(servers.size());
  std::vector<std::string> server_errors;
  for (const ServerTarget& s : servers) {
    absl::StatusOr<TraceResponse> r = CallWithClock(s, collect, options_.server_rpc_timeout,
                                                    options_.tls, &server_clocks[s.rank]);
    if (r.ok()) {
      collected[s.rank] = *std::move(r);
    } else {
      server_errors.push_back(std::string(r.status().message()));
    }
  }
  if (!ended.empty() || !missing.empty()) {
    return absl::DeadlineExceededError(absl::StrCat(
        "trace of job ", id, " steps ", request.first_step(), "-", request.last_step(),
        " incomplete: ", ended.empty() ? "" : absl::StrCat(ended, "; "),
        missing.empty() ? "" : absl::StrCat("not reported by ", absl::StrJoin(missing, ", ")),
        server_errors.empty() ? "" : absl::StrCat("; ", absl::StrJoin(server_errors, "; "))));
  }
  if (!server_errors.empty()) {
    return absl::AbortedError(absl::StrCat("trace of job ", id, ": cannot collect from ",
                                           absl::StrJoin(server_errors, "; ")));
  }
  // Merge: workers by rank, then servers by rank, each shifted onto this clock.
  std::vector<TraceNode> nodes;
  TraceJobResponse response;
  for (auto& [rank, w] : workers) {
    TraceNode n;
    n.role = "worker";
    n.rank = rank;
    n.node_id = rank < static_cast<int>(worker_nodes.size()) ? worker_nodes[rank] : "";
    n.label = absl::StrCat("worker ", rank, " (", n.node_id, ")");
    n.offset_us = w.clock_offset_us;
    n.error_us = w.clock_error_us;
    n.dropped = w.dropped;
    if (w.armed_step > request.first_step()) {
      n.note = absl::StrCat("armed from step ", w.armed_step, ": steps ", request.first_step(), "-",
                            w.armed_step - 1, " had run when it heard of the trace");
      response.add_notes(absl::StrCat(n.label, " ", n.note));
    }
    if (w.dropped > 0) {
      response.add_notes(absl::StrCat(n.label, " dropped ", w.dropped, " events beyond its cap"));
    }
    n.events = std::move(w.events);
    nodes.push_back(std::move(n));
  }
  for (const ServerTarget& s : servers) {
    TraceNode n;
    n.role = "server";
    n.rank = s.rank;
    n.node_id = s.node_id;
    n.label = absl::StrCat("server ", s.rank, " (", s.node_id, ")");
    n.offset_us = server_clocks[s.rank].offset_us;
    n.error_us = server_clocks[s.rank].valid ? server_clocks[s.rank].error_us : -1;
    n.dropped = collected[s.rank].dropped();
    if (n.dropped > 0) {
      response.add_notes(absl::StrCat(n.label, " dropped ", n.dropped, " events beyond its cap"));
    }
    n.events = FromProto(collected[s.rank].events());
    nodes.push_back(std::move(n));
  }
  int64_t events = 0;
  for (const TraceNode& n : nodes) events += static_cast<int64_t>(n.events.size());
  response.set_trace_json(WriteChromeTrace(
      nodes, {{"job", id},
              {"steps", absl::StrCat(request.first_step(), "-", request.last_step())},
              {"trace_id", absl::StrCat(trace_id)},
              {"clock",
               "the coordinator's (us since the Unix epoch); each node's "
               "clock_offset_us was subtracted, true within clock_error_us"},
              {"notes", absl::StrJoin(response.notes(), "; ")}}));
  response.set_events(events);
  response.set_nodes(static_cast<int32_t>(nodes.size()));
  spdlog::info("job {}: trace {} done: {} events from {} nodes", id, trace_id, events,
               nodes.size());
  return response;
}

absl::Status JobManager::ReportTrace(const TraceReport& report) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Job*> found = GetJobOrError(report.job_id());
  if (!found.ok()) return found.status();
  Job& job = **found;
  absl::StatusOr<MemberRecord*> member =
      CheckMember(job, ROLE_WORKER, report.worker_rank(), report.node_id());
  if (!member.ok()) return member.status();
  if (!job.trace.has_value() || job.trace->steps.trace_id() != report.trace_id()) {
    return absl::FailedPreconditionError(
        absl::StrCat("trace ", report.trace_id(), " of job ", report.job_id(), " is not running"));
  }
  WorkerTrace& w = job.trace->workers[report.worker_rank()];
  if (w.done) {
    return absl::FailedPreconditionError(
        absl::StrCat("worker ", report.worker_rank(), " sent its trace already"));
  }
  if (w.events.size() + report.events_size() > static_cast<size_t>(kDefaultMaxTraceEvents)) {
    w.dropped += report.events_size();
  } else {
    for (const TimelineEvent& e : report.events()) w.events.push_back(FromProto(e));
  }
  if (report.last()) w.dropped += report.dropped();  // every part repeats the count
  w.clock_offset_us = report.clock_offset_us();
  w.clock_error_us = report.clock_error_us();
  w.armed_step = report.armed_step();
  if (report.last()) {
    w.done = true;
    changed_.SignalAll();
  }
  return absl::OkStatus();
}

}  // namespace psd
