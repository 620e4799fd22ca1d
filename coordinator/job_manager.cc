#include "coordinator/job_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/checkpoint_layout.h"
#include "common/memory_estimate.h"
#include "coordinator/progress.h"
#include "coordinator/scheduler.h"
#include "coordinator/server_calls.h"
#include "proto/names.h"

namespace psd {
namespace {

int64_t ToMs(absl::Time t) { return absl::ToUnixMillis(t); }

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.1f s", absl::ToDoubleSeconds(d));
}

// "5m0s", "1m30s", "2s", "1.5s", "500ms".
std::string DurationText(absl::Duration d) {
  int64_t ms = absl::ToInt64Milliseconds(d);
  if (ms < 1000) return absl::StrCat(ms, "ms");
  std::string out;
  const int64_t hours = ms / 3600000, minutes = ms / 60000 % 60;
  if (hours > 0) absl::StrAppend(&out, hours, "h");
  if (hours > 0 || minutes > 0) absl::StrAppend(&out, minutes, "m");
  ms %= 60000;
  absl::StrAppend(&out, ms / 1000.0, "s");
  return out;
}

// Lengths of SubmitJob's other fields: a file name for messages, a directory path.
constexpr size_t kMaxSourceNameBytes = 1024;
constexpr size_t kMaxResumeFromBytes = 4096;

absl::string_view StripTrailingSlashes(absl::string_view dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  return dir;
}

// --resume-from must name a step directory "<checkpoint.dir>/<job>/<step>". It is checked
// for existence only when its job directory is visible here; otherwise it lives on the servers.
absl::Status CheckResumeFrom(const std::string& resume_from) {
  const absl::string_view dir = StripTrailingSlashes(resume_from);
  const size_t slash = dir.rfind('/');
  if (!ParseCheckpointStep(dir).has_value() || slash == absl::string_view::npos || slash == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--resume-from: expected .../<job>/<step>, got ", resume_from));
  }
  // The servers accept only a job's step dir without "." or ".." (common/checkpoint_layout.h).
  if (absl::Status s = ValidateStepDir(dir, *ParseCheckpointStep(dir)); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--resume-from: ", s.message()));
  }
  const std::string job_dir(dir.substr(0, slash));
  std::error_code ec;
  if (!std::filesystem::is_directory(job_dir, ec)) return absl::OkStatus();
  if (std::filesystem::is_directory(std::string(dir), ec)) return absl::OkStatus();
  const std::vector<int64_t> steps = ListCheckpointSteps(job_dir);
  return absl::InvalidArgumentError(absl::StrCat(
      "--resume-from: ", resume_from, " does not exist (", job_dir, " has ",
      steps.empty() ? "no checkpoints" : absl::StrCat("steps ", absl::StrJoin(steps, ", ")), ")"));
}

std::string Plural(size_t n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

std::vector<MemberRecord>& Members(JobRecord& rec, Role role) {
  return role == ROLE_SERVER ? rec.servers : rec.workers;
}

// "server 1", or "servers 0, 2".
std::string ServerRanks(const std::vector<int>& ranks) {
  return absl::StrCat(ranks.size() == 1 ? "server " : "servers ", absl::StrJoin(ranks, ", "));
}

std::string NodeIds(const std::vector<MemberRecord>& members) {
  return absl::StrJoin(members, ", ", [](std::string* out, const MemberRecord& m) {
    absl::StrAppend(out, m.node_id, "@", m.address);
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobManager>> JobManager::Create(const CoordinatorOptions& options,
                                                               std::unique_ptr<JobStore> store) {
  std::unique_ptr<JobManager> manager(new JobManager(options, std::move(store)));
  absl::Status status = manager->Load();
  if (!status.ok()) return status;
  manager->monitor_ = std::thread([m = manager.get()] { m->MonitorLoop(); });
  return manager;
}

JobManager::JobManager(const CoordinatorOptions& options, std::unique_ptr<JobStore> store)
    : options_(options),
      store_(std::move(store)),
      members_(options.heartbeat_timeout, options.dead_retention) {}

JobManager::~JobManager() { Shutdown(); }

void JobManager::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    changed_.SignalAll();
    for (auto& [id, watch] : watches_) watch.cv.SignalAll();
  }
  if (monitor_.joinable()) monitor_.join();
}

absl::Status JobManager::Load() {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<JobRecord>> records = store_->LoadAll();
  if (!records.ok()) return records.status();
  const absl::Time now = absl::Now();
  int queued = 0, running = 0, finished = 0;
  for (JobRecord& rec : *records) {
    auto job = std::make_unique<Job>();
    job->rec = std::move(rec);
    next_seq_ = std::max(next_seq_, job->rec.seq + 1);
    const std::string id = job->info().job_id();
    jobs_by_id_[id] = job.get();
    jobs_.push_back(std::move(job));
    Job& j = *jobs_.back();

    const bool active = j.info().state() == JOB_QUEUED || j.running();
    absl::StatusOr<JobSpec> spec = ParseJobSpec(j.info().spec_yaml(), id);
    if (spec.ok()) {
      j.spec = *std::move(spec);
    } else if (active) {
      j.info().set_state(JOB_FAILED);
      j.info().set_reason(absl::StrCat("spec no longer valid: ", spec.status().message()));
      j.info().set_ended_ms(ToMs(now));
    }
    j.checkpoints = CheckpointCatalog::Restore(j.rec, j.spec.checkpoint.keep);
    if (!spec.ok() && active) {
      spdlog::warn("job {}: failed at load: {}", id, j.info().reason());
      Persist(j, Durability::kFull);
      ++finished;
      continue;
    }
    if (j.info().state() == JOB_QUEUED) ++queued;
    if (!j.running()) {
      if (!active) ++finished;
      continue;
    }
    ++running;
    int awaited = 0;
    for (Role role : {ROLE_SERVER, ROLE_WORKER}) {
      const std::vector<MemberRecord>& list = Members(j.rec, role);
      for (size_t rank = 0; rank < list.size(); ++rank) {
        if (list[rank].state == MemberRecord::State::kLost) continue;
        NodeInfo info;
        info.set_node_id(list[rank].node_id);
        info.set_role(role);
        info.set_address(list[rank].address);
        info.set_preferred_rank(static_cast<int>(rank));
        info.set_identity(list[rank].identity);
        members_.AddAwaiting(std::move(info), id, static_cast<int>(rank),
                             now + options_.restart_grace);
        ++awaited;
      }
    }
    // No horizon granted before the restart exceeds the persisted bound: a change picked from
    // here on takes effect past every one of them.
    if (j.spec.cluster.elastic) j.horizon = j.info().step_horizon();
    if (j.spec.cluster.elastic) ReloadServerChange(j);
    if (j.spec.cluster.elastic && j.info().membership_size() > 1) {
      // The newest membership's joining ranks: one the coordinator had not started before the
      // restart registers without the job and is started (RegisterNode); one that runs resumes.
      // Unless every server had applied that membership, they apply it again as they
      // re-register (Assignment.coordinator_start_ms) and the joiners start once they all have.
      const auto& m = j.info().membership();
      const MembershipSegment& newest = m[m.size() - 1];
      const MembershipSegment& before = m[m.size() - 2];
      for (int r : newest.ranks()) {
        if (std::find(before.ranks().begin(), before.ranks().end(), r) == before.ranks().end()) {
          j.joining.push_back(r);
        }
      }
      j.membership_pending = j.info().membership_applied() < m.size() ? m.size() : 0;
    }
    spdlog::info(
        "job {}: was running before the restart{}; waiting up to {} for its {} nodes to "
        "re-register",
        id, j.rec.recovery.active ? absl::StrCat(" (", j.info().reason(), ")") : "",
        Seconds(options_.restart_grace), awaited);
  }
  spdlog::info("loaded {} jobs: {} queued, {} running, {} finished", jobs_.size(), queued, running,
               finished);
  Schedule();
  return absl::OkStatus();
}

void JobManager::MonitorLoop() {
  const absl::Duration tick =
      std::clamp(options_.heartbeat_timeout / 4, absl::Milliseconds(10), absl::Milliseconds(200));
  absl::MutexLock lock(&mu_);
  while (!shutting_down_) {
    mu_.AwaitWithTimeout(absl::Condition(&shutting_down_), tick);
    if (shutting_down_) break;
    const absl::Time now = absl::Now();
    const std::vector<std::string> dead = members_.Expire(now);
    for (const std::string& id : dead) OnNodeDead(id, now);
    if (!dead.empty()) Schedule();
    CheckRecoveryDeadlines(now);
  }
}

// --- Membership ---------------------------------------------------------------------------

absl::StatusOr<RegisterNodeResponse> JobManager::RegisterNode(const RegisterNodeRequest& request) {
  const NodeInfo& info = request.node();
  if (info.role() != ROLE_SERVER && info.role() != ROLE_WORKER) {
    return absl::InvalidArgumentError(
        absl::StrCat("node.role: must be ROLE_SERVER or ROLE_WORKER, got ", info.role()));
  }
  const size_t colon = info.address().rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == info.address().size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("node.address: must be host:port, got '", info.address(), "'"));
  }
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("coordinator is shutting down");
  const absl::Time now = absl::Now();

  // A node id belongs to the certificate that registered it (kept across restarts for the
  // members of running jobs).
  if (const NodeEntry* bound = info.node_id().empty() ? nullptr : members_.Find(info.node_id());
      bound != nullptr && !info.identity().empty() && !bound->info.identity().empty() &&
      bound->info.identity() != info.identity()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "node ", info.node_id(), " was registered by certificate '", bound->info.identity(), "'"));
  }

  // What this node was doing as far as the coordinator knows.
  std::string old_job;
  int old_rank = -1;
  Role old_role = ROLE_UNSPECIFIED;
  if (NodeEntry* old = info.node_id().empty() ? nullptr : members_.Find(info.node_id())) {
    old_job = old->job_id;
    old_rank = old->rank;
    old_role = old->info.role();
  }
  const std::string id = members_.Register(info, now).info.node_id();
  spdlog::info("node {} registered: {} at {}, {} devices{}", id, RoleName(info.role()),
               info.address(), info.devices_size(),
               request.job_id().empty()
                   ? ""
                   : absl::StrFormat(", running job %s as %s %d (generation %d)", request.job_id(),
                                     RoleName(info.role()), request.rank(), request.generation()));

  Job* claimed = request.job_id().empty() ? nullptr : FindJob(request.job_id());
  bool resumes = false;
  bool rejoins = false;  // a lost server of a recovering job: it may take its rank back
  std::string refusal;
  if (!request.job_id().empty()) {
    if (claimed == nullptr) {
      refusal = "the coordinator has no such job";
    } else if (!claimed->running()) {
      refusal = absl::StrCat("the job is ", JobStateName(claimed->info().state()));
    } else {
      std::vector<MemberRecord>& list = Members(claimed->rec, info.role());
      const int rank = request.rank();
      if (rank < 0 || rank >= static_cast<int>(list.size()) || list[rank].node_id != id) {
        refusal = "that rank belongs to another node";
      } else if (list[rank].state == MemberRecord::State::kLost) {
        rejoins = info.role() == ROLE_SERVER && claimed->recovering();
        refusal = "the node was dropped from the job";
      } else {
        resumes = true;
      }
    }
  }

  // A joining worker of an elastic job that was not started before a coordinator restart
  // registers without the job: it is still the job's, and starts with the change.
  Job* joins = nullptr;
  if (request.job_id().empty() && info.role() == ROLE_WORKER && old_role == ROLE_WORKER) {
    if (Job* job = FindJob(old_job);
        job != nullptr && job->running() &&
        std::find(job->joining.begin(), job->joining.end(), old_rank) != job->joining.end()) {
      joins = job;
    }
  }

  if (!old_job.empty() && joins == nullptr && !(resumes && old_job == request.job_id())) {
    if (Job* job = FindJob(old_job); job != nullptr && job->running()) {
      OnMemberLost(*job, old_role, old_rank, "re-registered without the job (restarted)");
    }
  }

  if (resumes) {
    NodeEntry& node = *members_.Find(id);
    members_.SetBusy(node, claimed->info().job_id(), request.rank());
    if (info.role() == ROLE_WORKER) {  // a joiner that runs already
      std::vector<int>& joining = claimed->joining;
      joining.erase(std::remove(joining.begin(), joining.end(), request.rank()), joining.end());
    }
    if (std::optional<Assignment> a = MemberAssignment(*claimed, info.role(), request.rank())) {
      AssignNode(id, *std::move(a));
    }
    spdlog::info("node {} resumes job {} as {} {} (generation {}{})", id, request.job_id(),
                 RoleName(info.role()), request.rank(), claimed->info().generation(),
                 claimed->recovering() ? ", paused: recovering" : "");
  } else if (joins != nullptr) {
    members_.SetBusy(*members_.Find(id), old_job, old_rank);
    spdlog::info("node {} joins job {} as worker {} with its membership change", id, old_job,
                 old_rank);
    if (joins->membership_pending == 0) StartJoiners(*joins);
  } else if (rejoins) {
    spdlog::info("node {} is back; it may replace server {} of recovering job {}", id,
                 request.rank(), request.job_id());
  } else if (!request.job_id().empty()) {
    Assignment stop;
    stop.set_job_id(request.job_id());
    stop.set_action(Assignment::ACTION_STOP);
    stop.set_role(info.role());
    stop.set_rank(request.rank());
    AssignNode(id, std::move(stop));
    spdlog::info("node {} told to stop job {}: {}", id, request.job_id(), refusal);
  }
  WakeWatchers(id);
  changed_.SignalAll();
  Schedule();

  RegisterNodeResponse response;
  response.set_node_id(id);
  response.set_heartbeat_interval_ms(absl::ToInt64Milliseconds(options_.heartbeat_interval));
  response.set_heartbeat_timeout_ms(absl::ToInt64Milliseconds(options_.heartbeat_timeout));
  return response;
}

absl::StatusOr<std::string> JobManager::NodeIdentity(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  const NodeEntry* node = members_.Find(node_id);
  if (node == nullptr) {
    return absl::NotFoundError(absl::StrCat("node ", node_id, " is not registered"));
  }
  return node->info.identity();
}

HeartbeatResponse JobManager::Heartbeat(const HeartbeatRequest& request) {
  absl::MutexLock lock(&mu_);
  HeartbeatResponse response;
  response.set_known(members_.Heartbeat(request.node_id(), absl::Now()));
  if (response.known()) {
    response.set_assignment_version(members_.Find(request.node_id())->assignment.version());
  }
  return response;
}

ListNodesResponse JobManager::ListNodes() {
  absl::MutexLock lock(&mu_);
  ListNodesResponse response;
  for (const NodeEntry* node : members_.All()) {
    NodeStatus* status = response.add_nodes();
    *status->mutable_node() = node->info;
    status->set_state(node->state);
    status->set_job_id(node->job_id);
    status->set_rank(node->rank);
    if (!node->awaiting) status->set_last_heartbeat_ms(ToMs(node->last_heartbeat));
  }
  return response;
}

absl::StatusOr<std::optional<Assignment>> JobManager::NextAssignment(const std::string& node_id,
                                                                     int64_t after_version,
                                                                     absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  while (true) {
    if (shutting_down_) return absl::UnavailableError("coordinator is shutting down");
    const NodeEntry* node = members_.FindLive(node_id);
    if (node == nullptr) {
      return absl::NotFoundError(absl::StrCat("node '", node_id, "' is not registered"));
    }
    if (node->assignment.version() > after_version) return node->assignment;
    Watch& watch = watches_[node_id];
    ++watch.waiters;
    const bool timed_out = watch.cv.WaitWithDeadline(&mu_, deadline);
    if (--watch.waiters == 0) watches_.erase(node_id);
    if (timed_out) return std::nullopt;
  }
}

void JobManager::WakeWatchers(const std::string& node_id) {
  if (auto it = watches_.find(node_id); it != watches_.end()) it->second.cv.SignalAll();
}

void JobManager::OnNodeDead(const std::string& node_id, absl::Time now) {
  NodeEntry* node = members_.Find(node_id);
  if (node == nullptr) return;
  const std::string why =
      node->awaiting ? absl::StrCat("did not re-register within ", Seconds(options_.restart_grace),
                                    " of the coordinator restart")
                     : absl::StrCat("no heartbeat for ", Seconds(now - node->last_heartbeat));
  spdlog::warn("node {} ({} at {}) dead: {}", node_id, RoleName(node->info.role()),
               node->info.address(), why);
  const std::string job_id = node->job_id;
  const Role role = node->info.role();
  const int rank = node->rank;
  members_.SetIdle(*node);
  if (Job* job = FindJob(job_id); job != nullptr && job->running()) {
    OnMemberLost(*job, role, rank, why);
  }
  WakeWatchers(node_id);
  changed_.SignalAll();
}

// --- Jobs ---------------------------------------------------------------------------------

JobManager::Job* JobManager::FindJob(const std::string& job_id) {
  auto it = jobs_by_id_.find(job_id);
  return it == jobs_by_id_.end() ? nullptr : it->second;
}

absl::StatusOr<JobManager::Job*> JobManager::GetJobOrError(const std::string& job_id) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id: required");
  Job* job = FindJob(job_id);
  if (job == nullptr) return absl::NotFoundError(absl::StrCat("no job '", job_id, "'"));
  return job;
}

absl::StatusOr<std::string> JobManager::SubmitJob(const SubmitJobRequest& request) {
  if (request.source_name().size() > kMaxSourceNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("source_name: at most ", kMaxSourceNameBytes,
                                                   " bytes, got ", request.source_name().size()));
  }
  if (request.resume_from().size() > kMaxResumeFromBytes) {
    return absl::InvalidArgumentError(absl::StrCat("--resume-from: at most ", kMaxResumeFromBytes,
                                                   " bytes, got ", request.resume_from().size()));
  }
  const std::string source = request.source_name().empty() ? "job" : request.source_name();
  ParseOptions parse;
  parse.max_spec_bytes = options_.max_spec_bytes;
  absl::StatusOr<JobSpec> spec = ParseJobSpec(request.spec_yaml(), source, parse);
  if (!spec.ok()) return absl::InvalidArgumentError(spec.status().message());
  if (spec->name.empty())
    return absl::InvalidArgumentError(absl::StrCat(source, ": name: required"));
  if (!request.resume_from().empty()) {
    if (absl::Status s = CheckResumeFrom(request.resume_from()); !s.ok()) return s;
  }
  if (absl::Status fits =
          CheckMemoryBudget(EstimateServerMemory(*spec), options_.server_memory_budget_bytes);
      !fits.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        source, ": ", fits.message(), " (the coordinator's --server_memory_budget_bytes)"));
  }

  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("coordinator is shutting down");
  auto job = std::make_unique<Job>();
  job->spec = *std::move(spec);
  job->rec.seq = next_seq_;
  job->rec.resume_from = request.resume_from();
  JobInfo& info = job->info();
  info.set_job_id(absl::StrCat(job->spec.name, "-", next_seq_));
  // The id names the job's checkpoint directory on every server.
  if (absl::Status s = ValidateJobId(info.job_id()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": name: ", s.message()));
  }
  info.set_name(job->spec.name);
  info.set_state(JOB_QUEUED);
  info.set_reason("queued");
  info.set_spec_yaml(request.spec_yaml());
  info.set_submitted_ms(ToMs(absl::Now()));
  if (FindJob(info.job_id()) != nullptr) {
    return absl::InternalError(absl::StrCat("job id ", info.job_id(), " already taken"));
  }
  if (absl::Status saved = store_->Save(job->rec, Durability::kFull); !saved.ok()) {
    spdlog::error("job {} not accepted: {}", info.job_id(), std::string(saved.message()));
    return absl::InternalError(absl::StrCat("cannot persist the job: ", saved.message()));
  }
  ++next_seq_;
  const std::string id = info.job_id();
  spdlog::info("job {} submitted from {}: {}, {}, {}{}", id, source,
               Plural(job->spec.cluster.servers, "server"),
               Plural(job->spec.cluster.workers, "worker"),
               std::string(ConsistencyName(job->spec.training.consistency)),
               request.resume_from().empty() ? "" : ", resuming from " + request.resume_from());
  jobs_by_id_[id] = job.get();
  jobs_.push_back(std::move(job));
  Schedule();
  return id;
}

absl::StatusOr<JobInfo> JobManager::GetJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Job*> job = GetJobOrError(job_id);
  if (!job.ok()) return job.status();
  return (*job)->info();
}

void JobManager::AddTableStats(JobInfo* info) {
  std::vector<std::string> addresses;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Job*> job = GetJobOrError(info->job_id());
    if (!job.ok() || !(*job)->running() || !(*job)->spec.model.sparse()) return;
    for (const MemberRecord& m : (*job)->rec.servers) addresses.push_back(m.address);
  }
  GetStatsRequest request;
  request.set_job_id(info->job_id());
  request.set_generation(info->generation());
  const std::vector<absl::StatusOr<ServerStats>> stats =
      CollectStats(addresses, request, absl::Seconds(1), options_.tls);
  for (size_t rank = 0; rank < stats.size(); ++rank) {
    if (!stats[rank].ok() || !stats[rank]->has_table()) continue;
    SparseTableStats* t = info->add_tables();
    *t = stats[rank]->table();
    t->set_rank(static_cast<int>(rank));
  }
}

ListJobsResponse JobManager::ListJobs() {
  absl::MutexLock lock(&mu_);
  ListJobsResponse response;
  for (const auto& job : jobs_) *response.add_jobs() = job->rec.info;
  return response;
}

absl::StatusOr<JobInfo> JobManager::CancelJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Job*> found = GetJobOrError(job_id);
  if (!found.ok()) return found.status();
  Job& job = **found;
  switch (job.info().state()) {
    case JOB_QUEUED:
    case JOB_RUNNING:
      Finish(job, JOB_CANCELLED, "cancelled by user");
      break;
    case JOB_CANCELLED:
      break;
    default:
      return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " already ",
                                                        JobStateName(job.info().state()), ": ",
                                                        job.info().reason()));
  }
  return job.info();
}

absl::StatusOr<CheckpointJobResponse> JobManager::CheckpointJob(const std::string& job_id) {
  CheckpointRequest request;
  std::vector<std::string> addresses;
  int64_t margin = 2;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Job*> found = GetJobOrError(job_id);
    if (!found.ok()) return found.status();
    Job& job = **found;
    if (!job.running()) {
      return absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, " is not running (", JobStateName(job.info().state()), ")"));
    }
    if (job.spec.checkpoint.dir.empty()) {
      return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " has no checkpoint.dir"));
    }
    if (job.recovering()) {
      return absl::FailedPreconditionError(absl::StrCat("job ", job_id, " is ", job.info().reason(),
                                                        "; checkpoint it once it runs again"));
    }
    request.set_job_id(job_id);
    request.set_generation(job.info().generation());
    // Progress is reported every few steps and steps can take milliseconds: aim about a
    // second of training ahead, so that no server has passed the step when asked.
    const Progress& p = job.info().progress();
    const double steps_per_sec =
        p.samples_per_sec() /
        std::max(1.0, static_cast<double>(job.spec.training.batch_size) *
                          std::max(1, p.live_workers() > 0 ? p.live_workers()
                                                           : job.spec.cluster.workers));
    margin = 2 + static_cast<int64_t>(std::ceil(steps_per_sec));
    request.set_step(std::max(p.step(), job.checkpoints.resume().step) + margin);
    request.set_dir(job.spec.checkpoint.dir);
    for (const MemberRecord& m : job.rec.servers) addresses.push_back(m.address);
  }
  // A server already past the step refuses it; a later one is asked for then (the servers
  // that accepted the earlier step write that one too, which does no harm).
  absl::Status status;
  for (int attempt = 0; attempt < 3; ++attempt, request.set_step(request.step() + 2 * margin)) {
    spdlog::info("job {}: checkpoint of step {} requested from {}", job_id, request.step(),
                 Plural(addresses.size(), "server"));
    status = RequestCheckpoint(addresses, request, options_.server_rpc_timeout, options_.tls);
    if (status.ok()) {
      CheckpointJobResponse response;
      response.set_step(request.step());
      return response;
    }
    spdlog::warn("job {}: checkpoint of step {} refused: {}", job_id, request.step(),
                 std::string(status.message()));
    if (status.message().find("already at step") == std::string::npos) break;
  }
  return status;
}

// --- Reports ------------------------------------------------------------------------------

absl::StatusOr<MemberRecord*> JobManager::CheckMember(Job& job, Role role, int rank,
                                                      const std::string& node_id) {
  if (role != ROLE_SERVER && role != ROLE_WORKER) {
    return absl::InvalidArgumentError(
        absl::StrCat("role: must be ROLE_SERVER or ROLE_WORKER, got ", role));
  }
  if (node_id.empty()) return absl::InvalidArgumentError("node_id: required");
  std::vector<MemberRecord>& list = Members(job.rec, role);
  if (rank < 0 || rank >= static_cast<int>(list.size())) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " out of range: job ",
                                                   job.info().job_id(), " has ", list.size(), " ",
                                                   RoleName(role), "s"));
  }
  if (list[rank].node_id != node_id) {
    return absl::FailedPreconditionError(absl::StrCat("node ", node_id, " is not ", RoleName(role),
                                                      " ", rank, " of job ", job.info().job_id(),
                                                      " (", list[rank].node_id, " is)"));
  }
  return &list[rank];
}

absl::StatusOr<bool> JobManager::ReportProgress(const ProgressReport& report, TraceSteps* trace,
                                                ReportProgressResponse* answer) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Job*> found = GetJobOrError(report.job_id());
  if (!found.ok()) return found.status();
  Job& job = **found;
  if (!job.running()) return true;
  absl::StatusOr<MemberRecord*> member =
      CheckMember(job, ROLE_WORKER, report.worker_rank(), report.node_id());
  if (!member.ok()) return member.status();
  if ((*member)->state == MemberRecord::State::kLost) return true;
  if (report.generation() != job.info().generation()) {
    return absl::FailedPreconditionError(
        absl::StrCat("generation ", report.generation(), " is stale: job ", job.info().job_id(),
                     " is at generation ", job.info().generation()));
  }
  if (trace != nullptr && job.trace.has_value() && job.trace_servers_armed) {
    auto sent = job.trace->workers.find(report.worker_rank());
    if (sent == job.trace->workers.end() || !sent->second.done) *trace = job.trace->steps;
  }
  if (answer != nullptr && job.spec.cluster.elastic) {
    answer->set_step_horizon(GrantHorizon(job, report.progress().step()));
    if (report.membership_size() < job.info().membership_size()) {
      *answer->mutable_membership() = job.info().membership();
    }
  }
  const absl::Time now = absl::Now();
  job.latest[report.worker_rank()] = report.progress();
  if (report.devices_size() > 0) job.devices[report.worker_rank()] = report.devices();
  UpdateWorkerReports(job, report);
  constexpr absl::Duration kAggregateEvery = absl::Milliseconds(100);
  if (job.latest.size() != job.aggregated_ranks ||
      ++job.reports_since_aggregate >= job.latest.size() ||
      now - job.last_aggregate >= kAggregateEvery) {
    AggregateNow(job, now);
  }
  if (now - job.last_progress_save >= options_.progress_save_interval) {
    job.last_progress_save = now;
    if (absl::Status s = store_->SaveProgress(job.info().job_id(), job.info().progress());
        !s.ok()) {
      spdlog::error("job {}: {}", job.info().job_id(), std::string(s.message()));
    }
  }
  return false;
}

void JobManager::AggregateNow(Job& job, absl::Time now) {
  Progress aggregate = AggregateProgress(job.latest, LiveWorkerRanks(job));
  aggregate.set_timestamp_ms(ToMs(now));
  aggregate.set_wall_seconds(
      absl::ToDoubleSeconds(now - absl::FromUnixMillis(job.info().started_ms())));
  *job.info().mutable_progress() = std::move(aggregate);
  job.reports_since_aggregate = 0;
  job.aggregated_ranks = job.latest.size();
  job.last_aggregate = now;
  const Progress& p = job.info().progress();
  history_.Add(job.info().job_id(),
               {p.step(), p.loss(), p.test_accuracy(), p.samples_per_sec(), p.wall_seconds()});
}

absl::Status JobManager::ReportTask(const TaskReport& report) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Job*> found = GetJobOrError(report.job_id());
  if (!found.ok()) return found.status();
  Job& job = **found;
  const std::string& id = job.info().job_id();
  if (!job.running()) {
    return absl::FailedPreconditionError(absl::StrCat("job ", id, " is not running (",
                                                      JobStateName(job.info().state()), ": ",
                                                      job.info().reason(), ")"));
  }
  absl::StatusOr<MemberRecord*> found_member =
      CheckMember(job, report.role(), report.rank(), report.node_id());
  if (!found_member.ok()) return found_member.status();
  MemberRecord& member = **found_member;
  // A daemon leaving may still hold an older generation (a worker paused by a recovery).
  if (report.kind() == TaskReport::KIND_LEAVING) return OnLeaving(job, report);
  if (report.generation() != job.info().generation()) {
    return absl::FailedPreconditionError(absl::StrCat("generation ", report.generation(),
                                                      " is stale: job ", id, " is at generation ",
                                                      job.info().generation()));
  }
  if (member.state == MemberRecord::State::kLost) {
    return absl::FailedPreconditionError(
        absl::StrCat(RoleName(report.role()), " ", report.rank(), " was dropped from job ", id));
  }
  const std::string who = absl::StrCat(RoleName(report.role()), " ", report.rank());
  switch (report.kind()) {
    case TaskReport::KIND_READY: {
      if (report.role() != ROLE_SERVER) {
        return absl::InvalidArgumentError("kind: KIND_READY is reported by servers only");
      }
      if (member.ready) return absl::OkStatus();
      member.ready = true;
      if (job.server_move.active) {
        ++job.server_move.ready;
        job.server_move.loaded_reported += report.loaded_bytes();
        job.server_move.moved_reported += report.moved_bytes();
      }
      const int ready = std::count_if(job.rec.servers.begin(), job.rec.servers.end(),
                                      [](const MemberRecord& m) { return m.ready; });
      spdlog::info("job {}: {} ready ({} of {})", id, who, ready, job.rec.servers.size());
      Persist(job, Durability::kFull);
      MaybeStartWorkers(job);
      return absl::OkStatus();
    }
    case TaskReport::KIND_SUCCEEDED: {
      if (report.role() != ROLE_WORKER) {
        return absl::InvalidArgumentError("kind: KIND_SUCCEEDED is reported by workers only");
      }
      if (member.state == MemberRecord::State::kDone) return absl::OkStatus();
      member.state = MemberRecord::State::kDone;
      job.results[report.rank()] = report.result();
      if (report.rank() == 0 || !job.info().has_result()) {
        *job.info().mutable_result() = report.result();
      }
      spdlog::info("job {}: {} done after {} steps", id, who, report.result().steps());
      Persist(job, Durability::kFull);
      MaybeSucceed(job);
      return absl::OkStatus();
    }
    case TaskReport::KIND_FAILED:
      spdlog::warn("job {}: {} failed: {}", id, who, report.message());
      Finish(job, JOB_FAILED, absl::StrCat(who, ": ", report.message()));
      return absl::OkStatus();
    case TaskReport::KIND_CHECKPOINTED:
      return OnCheckpointed(job, report);
    case TaskReport::KIND_CHECKPOINT_UNUSABLE:
      return OnCheckpointUnusable(job, report);
    case TaskReport::KIND_CHECKPOINT_FAILED:
      return OnCheckpointFailed(job, report);
    case TaskReport::KIND_NONFINITE_GRADIENTS:
      return OnNonfiniteGradients(job, report);
    case TaskReport::KIND_MEMBERSHIP_APPLIED:
      if (report.role() != ROLE_SERVER) {
        return absl::InvalidArgumentError(
            "kind: KIND_MEMBERSHIP_APPLIED is reported by servers only");
      }
      OnMembershipApplied(job, report.rank(), report.step());
      return absl::OkStatus();
    case TaskReport::KIND_RELEASED: {
      if (report.role() != ROLE_WORKER) {
        return absl::InvalidArgumentError("kind: KIND_RELEASED is reported by workers only");
      }
      if (member.state != MemberRecord::State::kLive) return absl::OkStatus();
      member.state = MemberRecord::State::kDone;
      if (NodeEntry* node = members_.Find(member.node_id); node != nullptr && node->job_id == id) {
        members_.SetIdle(*node);
      }
      ForgetWorkerReports(job, report.rank());
      AddEvent(job, absl::StrCat(who, " released at step ", report.step()));
      spdlog::info("job {}: {} released at step {}", id, who, report.step());
      Persist(job, Durability::kFull);
      CheckBarriers(job);
      MaybeSucceed(job);
      Schedule();  // the released worker is idle: a queued job may start
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("kind: unknown value ", report.kind()));
  }
}

absl::Status JobManager::OnLeaving(Job& job, const TaskReport& report) {
  const std::string who = absl::StrCat(RoleName(report.role()), " ", report.rank());
  if (NodeEntry* node = members_.Find(report.node_id()); node != nullptr) node->leaving = true;
  const std::string why = report.message().empty()
                              ? std::string("left (shutting down)")
                              : absl::StrCat("left (shutting down: ", report.message(), ")");
  spdlog::info("job {}: {} ({}) is leaving", job.info().job_id(), who, report.node_id());
  OnMemberLost(job, report.role(), report.rank(), why);
  return absl::OkStatus();
}

absl::Status JobManager::OnCheckpointed(Job& job, const TaskReport& report) {
  if (report.role() != ROLE_SERVER) {
    return absl::InvalidArgumentError("kind: KIND_CHECKPOINTED is reported by servers only");
  }
  if (report.step() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("step: a checkpoint's step must be > 0, got ", report.step()));
  }
  const std::string& id = job.info().job_id();
  const int written = job.checkpoints.AddWritten(report.step(), report.rank());
  if (written == 0) return absl::OkStatus();
  spdlog::info("job {}: server {} wrote the checkpoint of step {} ({} of {})", id, report.rank(),
               report.step(), written, job.rec.servers.size());
  if (written == job.checkpoints.num_servers()) {
    AddEvent(job, absl::StrCat("checkpoint of step ", report.step(), " complete"));
    spdlog::info("job {}: checkpoint of step {} complete", id, report.step());
  }
  Persist(job, Durability::kFull);
  OnServerChangeCheckpointed(job, report);
  return absl::OkStatus();
}

absl::Status JobManager::OnCheckpointFailed(Job& job, const TaskReport& report) {
  if (report.role() != ROLE_SERVER) {
    return absl::InvalidArgumentError("kind: KIND_CHECKPOINT_FAILED is reported by servers only");
  }
  if (report.step() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("step: a checkpoint's step must be > 0, got ", report.step()));
  }
  if (!job.failed_checkpoints.insert({report.step(), report.rank()}).second) {
    return absl::OkStatus();  // a retried report
  }
  const std::string what =
      absl::StrCat("checkpoint of step ", report.step(), " failed on server ", report.rank(), ": ",
                   report.message().empty() ? "no reason given" : report.message());
  JobFaults& faults = *job.info().mutable_faults();
  faults.set_checkpoint_failures(faults.checkpoint_failures() + 1);
  AddEvent(job, what);
  if (report.step() == job.info().server_change_step()) {
    AbandonServerChange(job, absl::StrCat("its checkpoint failed on server ", report.rank()));
  }
  if (job.spec.checkpoint.on_failure == CheckpointFailurePolicy::kFail) {
    Finish(job, JOB_FAILED, absl::StrCat(what, " (checkpoint.on_failure: fail)"));
    return absl::OkStatus();
  }
  spdlog::warn("job {}: {}; the job goes on (checkpoint.on_failure: continue)", job.info().job_id(),
               what);
  Persist(job, Durability::kFull);
  return absl::OkStatus();
}

absl::Status JobManager::OnNonfiniteGradients(Job& job, const TaskReport& report) {
  if (report.role() != ROLE_SERVER) {
    return absl::InvalidArgumentError("kind: KIND_NONFINITE_GRADIENTS is reported by servers only");
  }
  const JobFaults& now = report.faults();
  if (now.nonfinite_pushes_rejected() < 0 || now.nonfinite_chunks_skipped() < 0) {
    return absl::InvalidArgumentError("faults: counts must not be negative");
  }
  if (job.nonfinite_generation != report.generation()) {  // new servers count from 0
    job.nonfinite_generation = report.generation();
    job.nonfinite.clear();
  }
  JobFaults& before = job.nonfinite[report.rank()];
  const int64_t rejected =
      std::max<int64_t>(0, now.nonfinite_pushes_rejected() - before.nonfinite_pushes_rejected());
  const int64_t skipped =
      std::max<int64_t>(0, now.nonfinite_chunks_skipped() - before.nonfinite_chunks_skipped());
  before.set_nonfinite_pushes_rejected(
      std::max(before.nonfinite_pushes_rejected(), now.nonfinite_pushes_rejected()));
  before.set_nonfinite_chunks_skipped(
      std::max(before.nonfinite_chunks_skipped(), now.nonfinite_chunks_skipped()));
  if (rejected == 0 && skipped == 0) return absl::OkStatus();
  JobFaults& total = *job.info().mutable_faults();
  const bool first =
      total.nonfinite_pushes_rejected() == 0 && total.nonfinite_chunks_skipped() == 0;
  total.set_nonfinite_pushes_rejected(total.nonfinite_pushes_rejected() + rejected);
  total.set_nonfinite_chunks_skipped(total.nonfinite_chunks_skipped() + skipped);
  const std::string what =
      absl::StrCat("non-finite gradients on server ", report.rank(), ": ", rejected,
                   " pushes refused, ", skipped, " chunks skipped (training.nonfinite_gradients: ",
                   NonfinitePolicyName(job.spec.training.nonfinite_gradients), ")");
  if (first) AddEvent(job, absl::StrCat("first ", what));
  spdlog::warn("job {}: {}", job.info().job_id(), what);
  Persist(job, Durability::kRelaxed);
  return absl::OkStatus();
}

absl::Status JobManager::OnCheckpointUnusable(Job& job, const TaskReport& report) {
  if (report.role() != ROLE_SERVER) {
    return absl::InvalidArgumentError("kind: KIND_CHECKPOINT_UNUSABLE is reported by servers only");
  }
  const int64_t restored = job.checkpoints.resume().step;
  if (restored == 0 || report.step() != restored) {
    return absl::InvalidArgumentError(absl::StrCat("step: generation ", job.info().generation(),
                                                   " restores step ", restored, ", not ",
                                                   report.step()));
  }
  const std::string& id = job.info().job_id();
  job.checkpoints.MarkUnusable(report.step());
  const std::string what = absl::StrCat("checkpoint of step ", report.step(), " unusable (server ",
                                        report.rank(), ": ", report.message(), ")");
  AddEvent(job, what);
  spdlog::warn("job {}: {}; falling back to an older one", id, what);
  if (!job.checkpoints.PickResumePoint().has_value()) {
    Finish(job, JOB_FAILED, absl::StrCat(what, "; no older usable checkpoint"));
    return absl::OkStatus();
  }
  if (!job.rec.recovery.active) {
    BeginRecovery(job);
    PauseMembers(job);
  }
  RestoreServers(job);
  return absl::OkStatus();
}

absl::StatusOr<bool> JobManager::Barrier(const BarrierRequest& request, absl::Time deadline,
                                         const std::function<bool()>& cancelled) {
  if (request.name().empty()) return absl::InvalidArgumentError("name: required");
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Job*> found = GetJobOrError(request.job_id());
  if (!found.ok()) return found.status();
  Job& job = **found;
  if (!job.running()) return false;
  if (!IsBarrierMember(job, request.role(), request.node_id())) {
    return absl::FailedPreconditionError(
        absl::StrCat("node '", request.node_id(), "' is not a live ",
                     request.role() == ROLE_UNSPECIFIED ? "member" : Role_Name(request.role()),
                     " of job ", job.info().job_id()));
  }
  BarrierState& barrier = job.barriers[request.name()];
  barrier.role = request.role();
  const int64_t round = barrier.round;
  barrier.arrived.insert(request.node_id());
  CheckBarriers(job);
  while (true) {
    auto it = job.barriers.find(request.name());
    if (it == job.barriers.end() || !job.running() || shutting_down_) return false;
    if (it->second.round != round) return true;
    const absl::Time now = absl::Now();
    if (now >= deadline || cancelled()) {
      it->second.arrived.erase(request.node_id());
      return false;
    }
    changed_.WaitWithDeadline(&mu_, std::min(deadline, now + absl::Milliseconds(200)));
  }
}

// --- Scheduling and the life of a job ------------------------------------------------------

void JobManager::Persist(Job& job, Durability durability) {
  job.checkpoints.SaveTo(job.rec);
  if (absl::Status s = store_->Save(job.rec, durability); !s.ok()) {
    spdlog::error("job {}: {}", job.info().job_id(), std::string(s.message()));
  }
}

void JobManager::AddEvent(Job& job, const std::string& text) { job.info().add_events(text); }

void JobManager::ResetWorkerReports(Job& job) {
  job.latest.clear();
  job.devices.clear();
  job.stragglers.emplace(options_.stragglers, job.spec.training.consistency == Consistency::kSync);
  job.slow_servers.emplace(options_.stragglers);
  job.info().clear_stragglers();
  job.info().clear_workers();
  job.info().clear_servers();
  job.info().clear_slow_servers();
}

void JobManager::ForgetWorkerReports(Job& job, int rank) {
  job.latest.erase(rank);
  job.devices.erase(rank);
  if (job.stragglers) job.stragglers->Forget(rank);
  if (job.slow_servers) job.slow_servers->Forget(rank);
  UpdateWorkerReports(job, ProgressReport());
}

void JobManager::UpdateWorkerReports(Job& job, const ProgressReport& report) {
  const std::string& id = job.info().job_id();
  auto node_of = [](const std::vector<MemberRecord>& members, int rank) {
    return rank >= 0 && rank < static_cast<int>(members.size()) ? members[rank].node_id
                                                                : std::string();
  };
  const auto& workers = job.rec.workers;
  const auto& servers = job.rec.servers;
  if (!job.stragglers) {  // a job that was running when the coordinator restarted
    job.stragglers.emplace(options_.stragglers,
                           job.spec.training.consistency == Consistency::kSync);
  }
  if (!job.slow_servers) job.slow_servers.emplace(options_.stragglers);
  JobInfo& info = job.info();
  if (!report.job_id().empty()) {
    const int rank = report.worker_rank();
    const int64_t step = report.progress().step();
    if (auto change = job.stragglers->Observe(rank, step, report.progress().phases())) {
      const Straggler& s = change->straggler;
      const std::string text =
          change->named ? absl::StrFormat(
                              "worker %d (%s) is a straggler at step %d: %s %.1f ms per step, "
                              "the others %.1f ms",
                              rank, node_of(workers, rank), step, s.phase(),
                              s.seconds_per_step() * 1e3, s.others_seconds_per_step() * 1e3)
                        : absl::StrFormat("worker %d (%s) is no longer a straggler at step %d",
                                          rank, node_of(workers, rank), step);
      AddEvent(job, text);
      spdlog::warn("job {}: {}", id, text);
    }
    const int live = static_cast<int>(LiveWorkerRanks(job).size());
    for (const NamingChange& change : job.slow_servers->Observe(rank, report.progress(), live)) {
      const Straggler& s = change.straggler;
      const std::string text =
          change.named
              ? absl::StrFormat(
                    "server %d (%s) is slow at step %d: %s %.1f ms per call, the others %.1f ms",
                    s.rank(), node_of(servers, s.rank()), step, s.phase(),
                    s.seconds_per_step() * 1e3, s.others_seconds_per_step() * 1e3)
              : absl::StrFormat("server %d (%s) is no longer slow at step %d", s.rank(),
                                node_of(servers, s.rank()), step);
      AddEvent(job, text);
      spdlog::warn("job {}: {}", id, text);
    }
  }
  info.clear_stragglers();
  for (Straggler s : job.stragglers->Current()) {
    s.set_node_id(node_of(workers, s.rank()));
    *info.add_stragglers() = std::move(s);
  }
  info.clear_slow_servers();
  for (Straggler s : job.slow_servers->Current()) {
    s.set_node_id(node_of(servers, s.rank()));
    *info.add_slow_servers() = std::move(s);
  }
  info.clear_servers();
  for (ServerLoad load : job.slow_servers->loads()) {
    load.set_node_id(node_of(servers, load.rank()));
    *info.add_servers() = std::move(load);
  }
  // The reporting worker's row in place when it has one (rows are by rank); else all anew.
  auto row = std::lower_bound(info.mutable_workers()->begin(), info.mutable_workers()->end(),
                              report.worker_rank(),
                              [](const WorkerProgress& w, int rank) { return w.rank() < rank; });
  const bool in_place = !report.job_id().empty() && row != info.mutable_workers()->end() &&
                        row->rank() == report.worker_rank() &&
                        info.workers_size() == static_cast<int>(job.latest.size());
  auto fill = [&](WorkerProgress* w, int rank, const Progress& p) {
    w->set_rank(rank);
    w->set_node_id(node_of(workers, rank));
    w->set_step(p.step());
    w->set_samples_per_sec(p.samples_per_sec());
    *w->mutable_phases() = p.phases();
    if (auto d = job.devices.find(rank); d != job.devices.end()) *w->mutable_devices() = d->second;
  };
  if (in_place) {
    fill(&*row, report.worker_rank(), report.progress());
    return;
  }
  info.clear_workers();
  for (const auto& [rank, p] : job.latest) fill(info.add_workers(), rank, p);
}

void JobManager::Schedule() {
  // Running jobs that lost a server come first, then those that wait for workers to join.
  for (const auto& owned : jobs_) FillServerHoles(*owned);
  for (const auto& owned : jobs_) {
    if (owned->info().scale_target() > 0) MaybeScale(*owned);
    if (owned->info().server_scale_target() > 0) MaybeScaleServers(*owned);
  }
  std::string head;  // the first queued job that cannot start; later ones wait behind it
  for (const auto& owned : jobs_) {
    Job& job = *owned;
    if (job.info().state() != JOB_QUEUED) continue;
    std::string reason;
    if (!head.empty()) {
      reason = absl::StrCat("waiting: queued behind ", head);
    } else {
      NodeCounts counts;
      for (NodeEntry* n : members_.Live(ROLE_SERVER, NODE_IDLE)) {
        counts.idle_servers.push_back({n->info.node_id(), n->info.preferred_rank(), false});
      }
      for (NodeEntry* n : members_.Live(ROLE_WORKER, NODE_IDLE)) {
        counts.idle_workers.push_back(
            {n->info.node_id(), n->info.preferred_rank(), HasUsableCuda(n->info)});
      }
      for (const NodeEntry* n : members_.All()) {
        if (n->state != NODE_BUSY) continue;
        ++(n->info.role() == ROLE_SERVER ? counts.busy_servers : counts.busy_workers);
      }
      Requirements need;
      need.servers = job.spec.cluster.servers;
      need.workers = job.spec.cluster.workers;
      need.workers_need_cuda = job.spec.cluster.device == DeviceKind::kCuda;
      Pick pick = PickNodes(need, counts);
      if (pick.ready) {
        StartJob(job, pick.servers, pick.workers);
        continue;
      }
      reason = std::move(pick.reason);
      head = job.info().job_id();
    }
    if (reason != job.info().reason()) {
      job.info().set_reason(reason);
      spdlog::info("job {}: {}", job.info().job_id(), reason);
      Persist(job, Durability::kRelaxed);
    }
  }
}

void JobManager::StartJob(Job& job, const std::vector<std::string>& servers,
                          const std::vector<std::string>& workers) {
  const std::string& id = job.info().job_id();
  JobInfo& info = job.info();
  info.set_state(JOB_RUNNING);
  info.set_reason("running");
  info.set_started_ms(ToMs(absl::Now()));
  info.set_generation(1);
  info.clear_server_nodes();
  info.clear_worker_nodes();
  job.rec.servers.clear();
  job.rec.workers.clear();
  job.rec.workers_started = false;
  job.checkpoints = CheckpointCatalog(static_cast<int>(servers.size()), job.spec.checkpoint.keep,
                                      job.rec.resume_from);
  job.rec.recovery = RecoveryRecord();
  ResetWorkerReports(job);
  for (Role role : {ROLE_SERVER, ROLE_WORKER}) {
    const std::vector<std::string>& ids = role == ROLE_SERVER ? servers : workers;
    for (size_t rank = 0; rank < ids.size(); ++rank) {
      NodeEntry* node = members_.Find(ids[rank]);
      MemberRecord m;
      m.node_id = ids[rank];
      m.address = node->info.address();
      m.identity = node->info.identity();
      Members(job.rec, role).push_back(m);
      (role == ROLE_SERVER ? info.add_server_nodes() : info.add_worker_nodes())->assign(ids[rank]);
      members_.SetBusy(*node, id, static_cast<int>(rank));
    }
  }
  spdlog::info("job {} started (generation 1): servers [{}], workers [{}]", id,
               NodeIds(job.rec.servers), NodeIds(job.rec.workers));
  AddEvent(job, absl::StrCat("started on ", Plural(servers.size(), "server"), " and ",
                             Plural(workers.size(), "worker"),
                             job.checkpoints.resume().step > 0
                                 ? absl::StrCat(" from the checkpoint of step ",
                                                job.checkpoints.resume().step)
                                 : ""));
  for (size_t rank = 0; rank < servers.size(); ++rank) {
    AssignNode(servers[rank], RunAssignment(job, ROLE_SERVER, static_cast<int>(rank)));
  }
  Persist(job, Durability::kFull);
}

void JobManager::MaybeStartWorkers(Job& job) {
  if (job.rec.workers_started || !job.running()) return;
  for (const MemberRecord& m : job.rec.servers) {
    if (!m.ready) return;
  }
  job.rec.workers_started = true;
  if (job.rec.recovery.active) {
    const int64_t resumed_step = job.checkpoints.resume().step;
    const int64_t lost = std::max<int64_t>(0, job.rec.recovery.failure_step - resumed_step);
    const std::string resumed =
        absl::StrCat("resumed from step ", resumed_step, " (lost ", Plural(lost, "step"), ")");
    AddEvent(job, resumed);
    spdlog::info("job {}: {} at generation {}", job.info().job_id(), resumed,
                 job.info().generation());
    job.rec.recovery = RecoveryRecord();
    job.info().set_reason("running");
  }
  spdlog::info("job {}: all {} servers ready; starting {} workers", job.info().job_id(),
               job.rec.servers.size(), LiveWorkerRanks(job).size());
  GrantHorizon(job, job.checkpoints.resume().step);
  for (size_t rank = 0; rank < job.rec.workers.size(); ++rank) {
    if (job.rec.workers[rank].state != MemberRecord::State::kLive) continue;
    AssignNode(job.rec.workers[rank].node_id,
               RunAssignment(job, ROLE_WORKER, static_cast<int>(rank)));
  }
  OnServersMoved(job);
  Persist(job, Durability::kFull);
  // Requests that waited for this generation to run.
  if (job.info().scale_target() > 0) MaybeScale(job);
  MaybeScaleServers(job);
}

void JobManager::MaybeSucceed(Job& job) {
  if (!job.running()) return;
  int done = 0;
  for (const MemberRecord& m : job.rec.workers) {
    if (m.state == MemberRecord::State::kLive) return;
    if (m.state == MemberRecord::State::kDone) ++done;
  }
  if (done == 0) return;
  if (job.reports_since_aggregate > 0) AggregateNow(job, absl::Now());
  JobResult& result = *job.info().mutable_result();
  const Progress& progress = job.info().progress();
  if (result.steps() == 0) result.set_steps(progress.step());
  if (result.test_accuracy() == 0 && progress.test_accuracy() > 0) {
    result.set_test_accuracy(progress.test_accuracy());
  }
  if (result.test_auc() == 0 && progress.test_auc() > 0) result.set_test_auc(progress.test_auc());
  if (result.max_staleness() == 0) result.set_max_staleness(progress.max_staleness());
  if (result.wall_seconds() == 0) {
    result.set_wall_seconds(
        absl::ToDoubleSeconds(absl::Now() - absl::FromUnixMillis(job.info().started_ms())));
  }
  Finish(job, JOB_SUCCEEDED,
         result.test_auc() > 0
             ? absl::StrFormat("finished %d steps: test_auc=%.4f test_logloss=%.4f", result.steps(),
                               result.test_auc(), result.test_loss())
             : absl::StrFormat("finished %d steps: test_accuracy=%.4f", result.steps(),
                               result.test_accuracy()));
}

void JobManager::Finish(Job& job, JobState state, const std::string& reason) {
  const std::string& id = job.info().job_id();
  job.info().set_state(state);
  job.info().set_reason(reason);
  job.info().set_ended_ms(ToMs(absl::Now()));
  job.rec.recovery = RecoveryRecord();
  job.barriers.clear();
  int stopped = 0;
  for (Role role : {ROLE_SERVER, ROLE_WORKER}) {
    const std::vector<MemberRecord>& list = Members(job.rec, role);
    for (size_t rank = 0; rank < list.size(); ++rank) {
      NodeEntry* node = members_.Find(list[rank].node_id);
      if (node == nullptr || node->job_id != id) continue;
      Assignment stop;
      stop.set_job_id(id);
      stop.set_action(Assignment::ACTION_STOP);
      stop.set_role(role);
      stop.set_rank(static_cast<int>(rank));
      stop.set_generation(job.info().generation());
      AssignNode(list[rank].node_id, std::move(stop));
      members_.SetIdle(*node);
      ++stopped;
    }
  }
  spdlog::log(state == JOB_FAILED ? spdlog::level::warn : spdlog::level::info,
              "job {} {}: {} ({} nodes stopped)", id, JobStateName(state), reason, stopped);
  Persist(job, Durability::kFull);
  changed_.SignalAll();
  Schedule();
}

void JobManager::OnMemberLost(Job& job, Role role, int rank, const std::string& why) {
  std::vector<MemberRecord>& list = Members(job.rec, role);
  if (rank < 0 || rank >= static_cast<int>(list.size())) return;
  MemberRecord& member = list[rank];
  if (member.state == MemberRecord::State::kLost) return;
  const std::string lost = absl::StrCat(RoleName(role), " ", rank, " (", member.node_id, " at ",
                                        member.address, ") lost: ", why);
  const bool was_done = member.state == MemberRecord::State::kDone;
  member.state = MemberRecord::State::kLost;
  member.ready = false;
  if (NodeEntry* node = members_.Find(member.node_id);
      node != nullptr && node->job_id == job.info().job_id()) {
    members_.SetIdle(*node);
  }
  if (role == ROLE_WORKER && was_done) {
    // Not retrained if a server is lost later: the job goes on with the others.
    spdlog::info("job {}: {}; it had finished, nothing to do", job.info().job_id(), lost);
    Persist(job, Durability::kFull);
    return;
  }
  if (role == ROLE_SERVER) {
    OnServerLost(job, rank, lost);
  } else {
    OnWorkerLost(job, rank, lost);
  }
}

void JobManager::OnServerLost(Job& job, int rank, const std::string& lost) {
  const std::string& id = job.info().job_id();
  if (job.spec.checkpoint.dir.empty()) {
    Finish(job, JOB_FAILED,
           absl::StrCat(lost, "; the job has no checkpoint.dir, so it cannot recover"));
    return;
  }
  AbandonServerChange(job, absl::StrCat("server ", rank, " lost"));
  const std::vector<int> holes = LostServerRanks(job);
  if (holes.size() == 1) {  // the first hole: the wait for a replacement starts now
    job.rec.recovery.deadline_ms = ToMs(absl::Now() + options_.recovery_timeout);
  }
  const int64_t step = job.info().progress().step();
  AddEvent(job, absl::StrCat("server ", rank, " lost at step ", step, "; pausing"));
  spdlog::warn("job {}: {}; pausing the job, waiting up to {} for a replacement", id, lost,
               DurationText(absl::FromUnixMillis(job.rec.recovery.deadline_ms) - absl::Now()));
  BeginRecovery(job);
  job.info().set_reason(
      absl::StrCat("recovering: waiting for a server to replace ", ServerRanks(holes)));
  PauseMembers(job);
  Persist(job, Durability::kFull);
  FillServerHoles(job);
}

void JobManager::OnWorkerLost(Job& job, int rank, const std::string& lost) {
  const std::string& id = job.info().job_id();
  job.joining.erase(std::remove(job.joining.begin(), job.joining.end(), rank), job.joining.end());
  if (job.spec.training.on_worker_failure == WorkerFailurePolicy::kFail) {
    Finish(job, JOB_FAILED, lost);
    return;
  }
  const std::vector<int> live = LiveWorkerRanks(job);
  if (live.empty()) {
    Finish(job, JOB_FAILED, absl::StrCat(lost, "; no worker left"));
    return;
  }
  const std::string continuing = absl::StrCat("continuing with ", Plural(live.size(), "worker"));
  AddEvent(job, absl::StrCat("worker ", rank, " lost; ", continuing));
  spdlog::warn("job {}: {}; {} (on_worker_failure: continue)", id, lost, continuing);
  ForgetWorkerReports(job, rank);
  // Paused servers learn the live workers from the ACTION_RUN that ends their pause.
  if (LostServerRanks(job).empty()) {
    RunServersAgain(job);
  }
  Persist(job, Durability::kFull);
  CheckBarriers(job);
  MaybeSucceed(job);
  if (job.running() && job.spec.cluster.elastic && !job.spec.model.sparse() &&
      job.info().scale_target() == 0) {
    // The others re-shard the data without the lost worker's slice (MaybeScale); a sparse
    // job's workers keep their shards (its workers are fixed).
    job.info().set_scale_target(static_cast<int>(TrainingRanks(job).size()));
    MaybeScale(job);
  }
}

// --- Recovery from a lost server ------------------------------------------------------------

void JobManager::BeginRecovery(Job& job) {
  if (job.rec.recovery.active) return;
  job.rec.recovery.active = true;
  job.rec.recovery.failure_step = job.info().progress().step();
}

void JobManager::PauseMembers(Job& job) {
  for (Role role : {ROLE_SERVER, ROLE_WORKER}) {
    const std::vector<MemberRecord>& list = Members(job.rec, role);
    for (size_t rank = 0; rank < list.size(); ++rank) {
      if (list[rank].state == MemberRecord::State::kLost) continue;
      AssignNode(list[rank].node_id, PauseAssignment(job, role, static_cast<int>(rank)));
    }
  }
}

void JobManager::FillServerHoles(Job& job) {
  if (!job.recovering()) return;
  std::vector<int> holes = LostServerRanks(job);
  if (holes.empty()) return;  // restoring already
  // The lost node itself first (a restarted daemon), then a node asking for that rank, then
  // any idle server.
  for (int pass = 0; pass < 3 && !holes.empty(); ++pass) {
    std::vector<int> unfilled;
    for (int rank : holes) {
      NodeEntry* pick = nullptr;
      for (NodeEntry* n : members_.Live(ROLE_SERVER, NODE_IDLE)) {
        const bool fits = pass == 0   ? n->info.node_id() == job.rec.servers[rank].node_id
                          : pass == 1 ? n->info.preferred_rank() == rank
                                      : true;
        if (fits) {
          pick = n;
          break;
        }
      }
      if (pick == nullptr) {
        unfilled.push_back(rank);
      } else {
        ReplaceServer(job, rank, *pick);
      }
    }
    holes = std::move(unfilled);
  }
  if (holes.empty()) {
    RestoreServers(job);
    return;
  }
  const std::string reason =
      absl::StrCat("recovering: waiting for a server to replace ", ServerRanks(holes));
  if (reason != job.info().reason()) {
    job.info().set_reason(reason);
    Persist(job, Durability::kFull);
  }
}

void JobManager::ReplaceServer(Job& job, int rank, NodeEntry& node) {
  MemberRecord& member = job.rec.servers[rank];
  const bool same = member.node_id == node.info.node_id();
  member.node_id = node.info.node_id();
  member.address = node.info.address();
  member.identity = node.info.identity();
  member.state = MemberRecord::State::kLive;
  member.ready = false;
  *job.info().mutable_server_nodes(rank) = member.node_id;
  members_.SetBusy(node, job.info().job_id(), rank);
  AssignNode(member.node_id, PauseAssignment(job, ROLE_SERVER, rank));
  const std::string event = absl::StrCat("server ", rank, same ? " rejoined: " : " replaced by ",
                                         member.node_id, " at ", member.address);
  AddEvent(job, event);
  spdlog::info("job {}: {}", job.info().job_id(), event);
}

void JobManager::RestoreServers(Job& job) {
  const std::string& id = job.info().job_id();
  const std::optional<ResumePoint> point = job.checkpoints.PickResumePoint();
  if (!point.has_value()) {
    Finish(job, JOB_FAILED,
           absl::StrCat("no usable checkpoint to restart from (unusable: step ",
                        absl::StrJoin(job.checkpoints.unusable(), ", "), ")"));
    return;
  }
  JobRecord& rec = job.rec;
  JobInfo& info = job.info();
  info.set_generation(info.generation() + 1);
  job.checkpoints.ResumeFrom(*point);
  rec.workers_started = false;
  for (MemberRecord& m : rec.servers) m.ready = false;
  for (MemberRecord& m : rec.workers) {
    if (m.state == MemberRecord::State::kDone) m.state = MemberRecord::State::kLive;
  }
  job.results.clear();
  info.clear_result();
  ResetWorkerReports(job);
  info.mutable_progress()->set_step(point->step);
  job.barriers.clear();
  changed_.SignalAll();
  info.set_reason(
      point->step > 0
          ? absl::StrCat("recovering: servers loading the checkpoint of step ", point->step)
          : "recovering: servers initialising from the seed");
  spdlog::info("job {}: generation {}: {} servers restart from step {}{}", id, info.generation(),
               rec.servers.size(), point->step,
               point->dir.empty() ? "" : absl::StrCat(" (", point->dir, ")"));
  for (size_t rank = 0; rank < rec.servers.size(); ++rank) {
    AssignNode(rec.servers[rank].node_id, RunAssignment(job, ROLE_SERVER, static_cast<int>(rank)));
  }
  Persist(job, Durability::kFull);
}

void JobManager::CheckRecoveryDeadlines(absl::Time now) {
  for (const auto& owned : jobs_) {
    Job& job = *owned;
    if (!job.recovering()) continue;
    const std::vector<int> holes = LostServerRanks(job);
    if (holes.empty() || ToMs(now) < job.rec.recovery.deadline_ms) continue;
    Finish(job, JOB_FAILED,
           absl::StrCat(ServerRanks(holes), " lost and not replaced within ",
                        DurationText(options_.recovery_timeout)));
  }
}

std::vector<int> JobManager::LostServerRanks(const Job& job) const {
  std::vector<int> ranks;
  for (size_t r = 0; r < job.rec.servers.size(); ++r) {
    if (job.rec.servers[r].state == MemberRecord::State::kLost) {
      ranks.push_back(static_cast<int>(r));
    }
  }
  return ranks;
}

void JobManager::CheckBarriers(Job& job) {
  for (auto& [name, barrier] : job.barriers) {
    if (barrier.arrived.empty()) continue;
    size_t live = 0;  // a count first: the set of members is built only when it may be complete
    auto count = [&live](const std::vector<MemberRecord>& list) {
      for (const MemberRecord& m : list) live += m.state == MemberRecord::State::kLive;
    };
    if (barrier.role != ROLE_WORKER) count(job.rec.servers);
    if (barrier.role != ROLE_SERVER) count(job.rec.workers);
    if (barrier.arrived.size() < live) continue;
    const std::set<std::string> members = BarrierMembers(job, barrier.role);
    if (std::includes(barrier.arrived.begin(), barrier.arrived.end(), members.begin(),
                      members.end())) {
      ++barrier.round;
      barrier.arrived.clear();
      changed_.SignalAll();
    }
  }
}

Assignment JobManager::RunAssignment(const Job& job, Role role, int rank) const {
  Assignment a;
  a.set_job_id(job.rec.info.job_id());
  a.set_action(Assignment::ACTION_RUN);
  a.set_role(role);
  a.set_rank(rank);
  a.set_spec_yaml(job.rec.info.spec_yaml());
  for (const MemberRecord& m : job.rec.servers) a.add_server_addresses(m.address);
  a.set_num_workers(static_cast<int>(job.rec.workers.size()));
  a.set_generation(job.rec.info.generation());
  a.set_resume_step(job.checkpoints.resume().step);
  *a.mutable_membership() = job.rec.info.membership();
  if (role == ROLE_WORKER && job.spec.cluster.elastic) {
    int64_t horizon = job.horizon;
    if (job.membership_pending > 0) {  // held below a change the servers have not all applied
      const auto& m = job.rec.info.membership();
      horizon = std::min(horizon, m[m.size() - 1].from_step() - 1);
    }
    a.set_step_horizon(std::max<int64_t>(horizon, 1));
  }
  if (role == ROLE_SERVER) {
    a.set_resume_dir(job.checkpoints.resume().dir);
    for (int r : LiveWorkerRanks(job)) a.add_live_workers(r);
    for (const MemberRecord& m : job.rec.workers) a.add_worker_identities(m.identity);
    if (job.spec.cluster.elastic) a.set_coordinator_start_ms(start_ms_);
    a.set_checkpoint_step(job.rec.info.server_change_step());
  }
  return a;
}

void JobManager::RunServersAgain(const Job& job) {
  for (size_t r = 0; r < job.rec.servers.size(); ++r) {
    if (job.rec.servers[r].state == MemberRecord::State::kLost) continue;
    AssignNode(job.rec.servers[r].node_id, RunAssignment(job, ROLE_SERVER, static_cast<int>(r)));
  }
}

Assignment JobManager::PauseAssignment(const Job& job, Role role, int rank) const {
  Assignment a;
  a.set_job_id(job.rec.info.job_id());
  a.set_action(Assignment::ACTION_PAUSE);
  a.set_role(role);
  a.set_rank(rank);
  a.set_generation(job.rec.info.generation());
  return a;
}

std::optional<Assignment> JobManager::MemberAssignment(const Job& job, Role role, int rank) const {
  if (job.rec.recovery.active) {
    const bool restoring = role == ROLE_SERVER && LostServerRanks(job).empty();
    return restoring ? RunAssignment(job, role, rank) : PauseAssignment(job, role, rank);
  }
  if (role == ROLE_WORKER && !job.rec.workers_started) return std::nullopt;
  return RunAssignment(job, role, rank);
}

void JobManager::AssignNode(const std::string& node_id, Assignment assignment) {
  NodeEntry* node = members_.Find(node_id);
  if (node == nullptr) return;
  spdlog::debug("node {}: assignment {} {} {} {}", node_id, node->assignment.version() + 1,
                Assignment::Action_Name(assignment.action()), assignment.job_id(),
                assignment.rank());
  members_.Assign(*node, std::move(assignment));
  WakeWatchers(node_id);
}

std::vector<int> JobManager::LiveWorkerRanks(const Job& job) const {
  std::vector<int> ranks;
  for (size_t r = 0; r < job.rec.workers.size(); ++r) {
    if (job.rec.workers[r].state != MemberRecord::State::kLost)
      ranks.push_back(static_cast<int>(r));
  }
  return ranks;
}

std::set<std::string> JobManager::BarrierMembers(const Job& job, Role role) const {
  std::set<std::string> ids;
  for (const MemberRecord& m : job.rec.servers) {
    if (m.state == MemberRecord::State::kLive && role != ROLE_WORKER) ids.insert(m.node_id);
  }
  for (const MemberRecord& m : job.rec.workers) {
    if (m.state == MemberRecord::State::kLive && role != ROLE_SERVER) ids.insert(m.node_id);
  }
  return ids;
}

bool JobManager::IsBarrierMember(const Job& job, Role role, const std::string& node_id) const {
  auto in = [&](const std::vector<MemberRecord>& list) {
    return std::any_of(list.begin(), list.end(), [&](const MemberRecord& m) {
      return m.state == MemberRecord::State::kLive && m.node_id == node_id;
    });
  };
  return (role != ROLE_WORKER && in(job.rec.servers)) ||
         (role != ROLE_SERVER && in(job.rec.workers));
}

}  // namespace psd
