// Elastic servers (JobManager's part; docs/operations.md, "Elastic servers"): psdctl scale
// --servers moves a running job onto another number of servers.
//
// The change takes effect at step t = (the highest horizon granted) + 1, as a worker change
// does: no worker is granted a horizon of t or more, so every worker stops before step t. The
// servers checkpoint step t (Assignment.checkpoint_step): the state after every update of the
// steps before it, nothing acknowledged left out. Once every server has written it, the job
// moves to the new servers in a new generation that starts from that checkpoint: each server
// loads the chunks and rows it owns under the new count (server/checkpoint_restore.h), which
// common/placement.h keeps to those of the ranks added or removed. The workers resume at t.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/checkpoint_layout.h"
#include "common/memory_estimate.h"
#include "common/placement.h"
#include "coordinator/job_manager.h"

namespace psd {
namespace {

std::string Servers(int n) { return absl::StrCat(n, " server", n == 1 ? "" : "s"); }

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

}  // namespace

absl::Status JobManager::RequestServerScale(Job& job, int servers) {
  const std::string& id = job.info().job_id();
  if (servers < 1 || servers > kMaxServers) {
    return absl::InvalidArgumentError(
        absl::StrCat("servers: must be between 1 and ", kMaxServers, ", got ", servers));
  }
  if (job.spec.checkpoint.dir.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", id,
                     " has no checkpoint.dir: its servers move through a checkpoint, so it "
                     "cannot change servers"));
  }
  const int now = static_cast<int>(job.rec.servers.size());
  AddEvent(job, absl::StrCat("scale to ", Servers(servers), " requested (", now, " now)"));
  spdlog::info("job {}: scale to {} servers requested ({} now)", id, servers, now);
  job.info().set_server_scale_target(servers);
  MaybeScaleServers(job);
  return absl::OkStatus();
}

void JobManager::MaybeScaleServers(Job& job) {
  const int target = job.info().server_scale_target();
  if (target <= 0 || !job.running() || job.recovering() || !job.rec.workers_started ||
      job.membership_pending > 0 || job.info().server_change_step() > 0) {
    return;
  }
  const int now = static_cast<int>(job.rec.servers.size());
  if (target == now) {
    job.info().set_server_scale_target(0);
    return;
  }
  const int64_t total = job.info().progress().total_steps();
  const int64_t step = std::max(job.horizon, job.info().progress().step()) + 1;
  if (total > 0 && step + 1 >= total) {
    AddEvent(job,
             absl::StrCat("scale to ", Servers(target), " dropped: too close to the last step"));
    job.info().set_server_scale_target(0);
    return;
  }
  if (target > now) {
    int idle = 0;
    for (NodeEntry* n : members_.Live(ROLE_SERVER, NODE_IDLE)) idle += !n->leaving;
    if (idle < target - now) {
      job.info().set_reason(absl::StrCat("running; scaling to ", Servers(target), " waits for ",
                                         target - now - idle, " idle server",
                                         target - now - idle == 1 ? "" : "s"));
      return;
    }
  }
  job.info().set_reason("running");
  job.info().set_server_change_step(step);
  job.info().set_server_change_to(target);
  job.server_move = ServerMove();
  const std::string text = absl::StrCat("scaling from ", now, " to ", Servers(target), " at step ",
                                        step, ": checkpointing step ", step);
  AddEvent(job, text);
  spdlog::info("job {}: {}", job.info().job_id(), text);
  // The servers schedule the checkpoint from their ACTION_RUN (Assignment.checkpoint_step).
  RunServersAgain(job);
  Persist(job, Durability::kFull);
}

void JobManager::OnServerChangeCheckpointed(Job& job, const TaskReport& report) {
  const int64_t step = job.info().server_change_step();
  if (step <= 0 || report.step() != step) return;
  job.server_move.state_taken_ms =
      std::max(job.server_move.state_taken_ms, report.snapshot_unix_ms());
  if (!job.checkpoints.IsComplete(step)) return;
  job.server_move.written_ms = absl::ToUnixMillis(absl::Now());
  SwitchServers(job);
}

void JobManager::AbandonServerChange(Job& job, const std::string& why) {
  const int64_t step = job.info().server_change_step();
  if (step <= 0) return;
  job.info().set_server_change_step(0);
  job.info().set_server_change_to(0);
  const std::string text = absl::StrCat("server change at step ", step, " abandoned: ", why,
                                        "; it starts again once the job runs");
  AddEvent(job, text);
  spdlog::warn("job {}: {}", job.info().job_id(), text);
}

void JobManager::SwitchServers(Job& job) {
  const std::string& id = job.info().job_id();
  const int64_t step = job.info().server_change_step();
  const int from = static_cast<int>(job.rec.servers.size());
  const int to = job.info().server_change_to();
  std::vector<NodeEntry*> idle;
  for (NodeEntry* n : members_.Live(ROLE_SERVER, NODE_IDLE)) {
    if (!n->leaving) idle.push_back(n);
  }
  if (to > from && static_cast<int>(idle.size()) < to - from) {
    AbandonServerChange(job, "the idle servers it needs went away");
    Persist(job, Durability::kFull);
    return;
  }
  JobSpec before = job.spec;
  before.cluster.servers = from;
  JobSpec after = job.spec;
  after.cluster.servers = to;
  absl::StatusOr<Placement> old_placement = Placement::ForJob(before);
  absl::StatusOr<Placement> new_placement = Placement::ForJob(after);
  if (old_placement.ok() && new_placement.ok()) {
    // Each parameter moves with its optimizer state.
    const int64_t copies = 1 + OptimizerSlots(job.spec.training.optimizer.type);
    job.server_move.moved_bytes = MovedBytes(*old_placement, *new_placement) * copies;
    job.server_move.total_bytes = new_placement->total_elements() * 4 * copies;
  }
  // The workers stop where they are (they wait at their horizon, step - 1, already).
  for (size_t r = 0; r < job.rec.workers.size(); ++r) {
    if (job.rec.workers[r].state == MemberRecord::State::kLost) continue;
    AssignNode(job.rec.workers[r].node_id, PauseAssignment(job, ROLE_WORKER, static_cast<int>(r)));
  }
  // Removed ranks (the highest) drop the job and are idle again.
  for (int r = to; r < from; ++r) {
    MemberRecord& m = job.rec.servers[r];
    Assignment stop;
    stop.set_job_id(id);
    stop.set_action(Assignment::ACTION_STOP);
    stop.set_role(ROLE_SERVER);
    stop.set_rank(r);
    stop.set_generation(job.info().generation());
    AssignNode(m.node_id, std::move(stop));
    if (NodeEntry* node = members_.Find(m.node_id); node != nullptr && node->job_id == id) {
      members_.SetIdle(*node);
    }
  }
  if (to < from) job.rec.servers.resize(to);
  for (int r = from; r < to; ++r) {
    NodeEntry& node = *idle[r - from];
    MemberRecord member;
    member.node_id = node.info.node_id();
    member.address = node.info.address();
    member.identity = node.info.identity();
    job.rec.servers.push_back(member);
    members_.SetBusy(node, id, r);
  }
  job.info().clear_server_nodes();
  for (const MemberRecord& m : job.rec.servers) job.info().add_server_nodes(m.node_id);
  job.spec.cluster.servers = to;
  job.server_move.from = from;
  job.server_move.to = to;
  job.server_move.step = step;
  job.server_move.active = true;
  job.info().set_server_change_step(0);
  job.info().set_server_change_to(0);
  if (job.info().server_scale_target() == to) job.info().set_server_scale_target(0);
  // A new run of checkpoints on the new servers, starting from the one just written.
  job.rec.resume_from = CheckpointStepDir(job.spec.checkpoint.dir, id, step);
  job.checkpoints = CheckpointCatalog(to, job.spec.checkpoint.keep, job.rec.resume_from);
  spdlog::info("job {}: moving from {} to {} at step {}", id, Servers(from), Servers(to), step);
  RestoreServers(job);
}

void JobManager::OnServersMoved(Job& job) {
  if (!job.server_move.active) return;
  ServerMove& move = job.server_move;
  move.active = false;
  const int64_t now = absl::ToUnixMillis(absl::Now());
  const int64_t taken = move.state_taken_ms > 0 ? move.state_taken_ms : move.written_ms;
  if (move.ready == move.to && move.loaded_reported > 0) {  // what the servers loaded
    move.moved_bytes = move.moved_reported;
    move.total_bytes = move.loaded_reported;
  }
  const std::string text = absl::StrFormat(
      "servers %d -> %d at step %d: %.2f of %.2f MiB moved; paused %.2f s (checkpoint %.2f s, "
      "restore %.2f s)",
      move.from, move.to, move.step, MiB(move.moved_bytes), MiB(move.total_bytes),
      (now - taken) / 1e3, (move.written_ms - taken) / 1e3, (now - move.written_ms) / 1e3);
  AddEvent(job, text);
  spdlog::info("job {}: {}", job.info().job_id(), text);
}

void JobManager::ReloadServerChange(Job& job) {
  if (!job.rec.servers.empty()) job.spec.cluster.servers = static_cast<int>(job.rec.servers.size());
  // A change that had not switched yet starts again (its checkpoint may never complete now).
  if (job.info().server_change_step() > 0) AbandonServerChange(job, "the coordinator restarted");
}

}  // namespace psd
