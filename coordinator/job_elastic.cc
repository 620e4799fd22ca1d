// Elastic workers (JobManager's part; docs/operations.md, "Elastic workers"): psdctl scale,
// the job's membership segments, and the step horizons that let a change reach every worker
// before the step it takes effect.
//
// A change takes effect at step t = (the highest horizon granted) + 1, so no worker can have
// started t without hearing of it. The servers learn it first (ACTION_RUN with the new
// membership); until each has reported KIND_MEMBERSHIP_APPLIED, no worker is granted a horizon
// of t or more, and the joining workers are started only then. Removed workers stop before t
// (KIND_RELEASED) and become idle.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/job_manager.h"
#include "proto/names.h"

namespace psd {
namespace {

// The most live workers `psdctl scale` asks for (cluster.workers' own limit).
constexpr int kMaxScaleWorkers = 4096;

std::string Plural(size_t n, absl::string_view noun) {
  return absl::StrCat(n, " ", noun, n == 1 ? "" : "s");
}

std::string RankList(const std::vector<int>& ranks) {
  return absl::StrCat("[", absl::StrJoin(ranks, ", "), "]");
}

}  // namespace

std::vector<int> JobManager::TrainingRanks(const Job& job) const {
  std::vector<int> candidates;
  const auto& membership = job.rec.info.membership();
  if (membership.empty()) {
    for (size_t r = 0; r < job.rec.workers.size(); ++r) candidates.push_back(static_cast<int>(r));
  } else {
    const MembershipSegment& newest = membership[membership.size() - 1];
    candidates.assign(newest.ranks().begin(), newest.ranks().end());
  }
  std::vector<int> ranks;
  for (int r : candidates) {
    if (r >= 0 && r < static_cast<int>(job.rec.workers.size()) &&
        job.rec.workers[r].state != MemberRecord::State::kLost) {
      ranks.push_back(r);
    }
  }
  return ranks;
}

int64_t JobManager::GrantHorizon(Job& job, int64_t step) {
  if (!job.spec.cluster.elastic) return 0;
  int64_t horizon = step + 2 * std::max<int64_t>(1, job.spec.training.log_every);
  const auto& membership = job.info().membership();
  if (job.membership_pending > 0 && !membership.empty()) {
    horizon = std::min(horizon, membership[membership.size() - 1].from_step() - 1);
  }
  if (job.info().server_change_step() > 0) {  // the servers move at that step
    horizon = std::min(horizon, job.info().server_change_step() - 1);
  }
  job.horizon = std::max(job.horizon, horizon);
  if (job.horizon > job.info().step_horizon()) {
    // Persisted ahead, ten reporting intervals at a time: a restarted coordinator starts from it.
    job.info().set_step_horizon(job.horizon +
                                10 * std::max<int64_t>(1, job.spec.training.log_every));
    Persist(job, Durability::kFull);
  }
  return horizon;
}

absl::StatusOr<JobInfo> JobManager::ScaleJob(const ScaleJobRequest& request) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Job*> found = GetJobOrError(request.job_id());
  if (!found.ok()) return found.status();
  Job& job = **found;
  const std::string& id = job.info().job_id();
  if (!job.running()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " is not running (", JobStateName(job.info().state()), ")"));
  }
  if (!job.spec.cluster.elastic) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", id, " was submitted without cluster.elastic: true, so its workers are fixed"));
  }
  if (request.workers() == 0 && request.servers() == 0) {
    return absl::InvalidArgumentError("give the workers or the servers wanted (or both)");
  }
  if (request.workers() != 0 && job.spec.model.sparse()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", id, " trains a sparse model: its workers are fixed (its servers can change)"));
  }
  if (request.workers() != 0 && (request.workers() < 1 || request.workers() > kMaxScaleWorkers)) {
    return absl::InvalidArgumentError(absl::StrCat("workers: must be between 1 and ",
                                                   kMaxScaleWorkers, ", got ", request.workers()));
  }
  const int64_t total = job.info().progress().total_steps();
  if (total > 0 && std::max(job.horizon, job.info().progress().step()) + 1 >= total) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id, " is too close to its last step (", total, ") to change"));
  }
  if (request.servers() != 0) {
    if (absl::Status s = RequestServerScale(job, request.servers()); !s.ok()) return s;
  }
  if (request.workers() != 0) {
    const int now = static_cast<int>(TrainingRanks(job).size());
    AddEvent(job, absl::StrCat("scale to ", Plural(request.workers(), "worker"), " requested (",
                               now, " now)"));
    spdlog::info("job {}: scale to {} workers requested ({} now)", id, request.workers(), now);
    job.info().set_scale_target(request.workers());
    MaybeScale(job);
  }
  Persist(job, Durability::kFull);
  return job.info();
}

void JobManager::MaybeScale(Job& job) {
  const int target = job.info().scale_target();
  if (target <= 0 || !job.running() || job.recovering() || !job.rec.workers_started ||
      job.membership_pending > 0 || job.info().server_change_step() > 0) {
    return;
  }
  std::vector<int> ranks = TrainingRanks(job);
  const int now = static_cast<int>(ranks.size());
  const auto& membership = job.info().membership();
  const size_t in_newest =
      membership.empty() ? job.rec.workers.size() : membership[membership.size() - 1].ranks_size();
  if (target == now) {
    job.info().set_scale_target(0);
    // A lost worker's slice: the others re-shard the data without it.
    if (in_newest != ranks.size()) {
      ChangeMembership(job, ranks, absl::StrCat("re-sharding over ", Plural(now, "worker")));
    }
    return;
  }
  if (target < now) {
    ranks.resize(target);  // the lowest ranks stay: rank 0 evaluates and reports the result
    ChangeMembership(job, ranks, absl::StrCat("scaling from ", now, " to ", target, " workers"));
    job.info().set_scale_target(0);
    return;
  }
  std::vector<NodeEntry*> idle;
  for (NodeEntry* n : members_.Live(ROLE_WORKER, NODE_IDLE)) {
    if (!n->leaving) idle.push_back(n);
  }
  const int need = target - now;
  if (static_cast<int>(idle.size()) < need) {
    job.info().set_reason(
        absl::StrCat("running; scaling to ", target, " workers waits for ",
                     Plural(need - static_cast<int>(idle.size()), "idle worker")));
    return;
  }
  job.joining.clear();
  const std::string& id = job.info().job_id();
  for (int i = 0; i < need; ++i) {
    NodeEntry& node = *idle[i];
    MemberRecord member;
    member.node_id = node.info.node_id();
    member.address = node.info.address();
    member.identity = node.info.identity();
    const int rank = static_cast<int>(job.rec.workers.size());
    job.rec.workers.push_back(member);
    job.info().add_worker_nodes(member.node_id);
    members_.SetBusy(node, id, rank);
    ranks.push_back(rank);
    job.joining.push_back(rank);
  }
  job.info().set_reason("running");
  ChangeMembership(job, ranks, absl::StrCat("scaling from ", now, " to ", target, " workers"));
  job.info().set_scale_target(0);
}

void JobManager::ChangeMembership(Job& job, std::vector<int> ranks, const std::string& why) {
  std::sort(ranks.begin(), ranks.end());
  auto& membership = *job.info().mutable_membership();
  if (membership.empty()) {  // the job as it started: every first rank from step 0
    MembershipSegment& first = *membership.Add();
    first.set_from_step(0);
    for (int r = 0; r < job.spec.cluster.workers; ++r) first.add_ranks(r);
  }
  const int64_t step = std::max(job.horizon, job.info().progress().step()) + 1;
  MembershipSegment& segment = *membership.Add();
  segment.set_from_step(step);
  for (int r : ranks) segment.add_ranks(r);
  job.membership_pending = membership.size();
  job.membership_applied.clear();
  const std::string text = absl::StrCat(why, " at step ", step, ": workers ", RankList(ranks));
  AddEvent(job, text);
  spdlog::info("job {}: {}", job.info().job_id(), text);
  RunServersAgain(job);
  Persist(job, Durability::kFull);
}

void JobManager::OnMembershipApplied(Job& job, int server_rank, int64_t segments) {
  if (job.membership_pending == 0 || segments != job.membership_pending) return;
  job.membership_applied.insert(server_rank);
  for (size_t r = 0; r < job.rec.servers.size(); ++r) {
    if (job.rec.servers[r].state != MemberRecord::State::kLost &&
        job.membership_applied.count(static_cast<int>(r)) == 0) {
      return;
    }
  }
  const auto& membership = job.info().membership();
  const int64_t step = membership[membership.size() - 1].from_step();
  job.membership_pending = 0;
  job.info().set_membership_applied(membership.size());
  GrantHorizon(job, step);
  spdlog::info("job {}: every server follows the membership of step {}", job.info().job_id(), step);
  if (!job.joining.empty()) {
    AddEvent(job, absl::StrCat("workers ", RankList(job.joining), " join at step ", step));
  }
  // Saved before the joiners start: a restarted coordinator neither waits for the servers
  // again nor adds the event twice, and starts only a joiner that registers without the job.
  Persist(job, Durability::kFull);
  StartJoiners(job);
  MaybeScale(job);  // a request that came while this one was under way
  MaybeScaleServers(job);
}

void JobManager::StartJoiners(Job& job) {
  std::vector<int> waiting;  // not registered again yet since a coordinator restart
  for (int r : job.joining) {
    const NodeEntry* node = members_.Find(job.rec.workers[r].node_id);
    if (node != nullptr && node->awaiting) {
      waiting.push_back(r);
      continue;
    }
    AssignNode(job.rec.workers[r].node_id, RunAssignment(job, ROLE_WORKER, r));
  }
  job.joining = std::move(waiting);
}

}  // namespace psd
