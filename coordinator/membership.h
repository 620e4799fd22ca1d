// The coordinator's table of nodes: registration, liveness, and each node's current
// assignment. Not thread-safe: the job manager calls it under its own lock.
#ifndef PSD_COORDINATOR_MEMBERSHIP_H_
#define PSD_COORDINATOR_MEMBERSHIP_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/random/random.h"
#include "absl/time/time.h"
#include "proto/coordinator.pb.h"

namespace psd {

struct NodeEntry {
  NodeInfo info;  // info.node_id() is the key
  NodeState state = NODE_IDLE;
  // Known from a running job's record after a coordinator restart; not yet re-registered.
  bool awaiting = false;
  // Said it is shutting down (TaskReport KIND_LEAVING): gets no work until it registers again.
  bool leaving = false;
  std::string job_id;  // when BUSY
  int rank = -1;
  int64_t order = 0;  // registration order
  absl::Time last_heartbeat;
  absl::Time deadline;  // dead when the clock passes it
  absl::Time dead_since;
  Assignment assignment;  // current; version increases with every change
};

class Membership {
 public:
  // `timeout`: a node is dead after this long without a heartbeat. Dead nodes stay listed for
  // `dead_retention`.
  Membership(absl::Duration timeout, absl::Duration dead_retention);

  // Adds a node, or replaces the entry with the same id (keeping its assignment version).
  // Gives a fresh id when `info.node_id` is empty. The node is live and IDLE.
  NodeEntry& Register(NodeInfo info, absl::Time now);
  // A BUSY placeholder for a node that ran `job_id` before a coordinator restart; it counts as
  // dead if it has not re-registered by `deadline`.
  NodeEntry& AddAwaiting(NodeInfo info, const std::string& job_id, int rank, absl::Time deadline);

  // Any entry with this id (dead and awaiting ones included), or nullptr.
  NodeEntry* Find(const std::string& node_id);
  // A registered, live node, or nullptr.
  NodeEntry* FindLive(const std::string& node_id);
  // Records a heartbeat; false if the node is not registered and live.
  bool Heartbeat(const std::string& node_id, absl::Time now);
  // Marks nodes past their deadline DEAD and returns their ids; forgets long-dead ones.
  std::vector<std::string> Expire(absl::Time now);

  // Replaces the node's assignment, with the next version.
  void Assign(NodeEntry& node, Assignment assignment);
  void SetIdle(NodeEntry& node);
  void SetBusy(NodeEntry& node, const std::string& job_id, int rank);

  // Live nodes of `role` in registration order, in `state`; leaving nodes are left out.
  std::vector<NodeEntry*> Live(Role role, NodeState state);
  std::vector<const NodeEntry*> All() const;

  absl::Duration timeout() const { return timeout_; }

 private:
  std::string NewId(Role role);

  absl::Duration timeout_;
  absl::Duration dead_retention_;
  std::map<std::string, NodeEntry> nodes_;
  int64_t next_order_ = 0;
  absl::BitGen bitgen_;
};

}  // namespace psd

#endif  // PSD_COORDINATOR_MEMBERSHIP_H_
