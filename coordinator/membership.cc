#include "coordinator/membership.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"

namespace psd {

Membership::Membership(absl::Duration timeout, absl::Duration dead_retention)
    : timeout_(timeout), dead_retention_(dead_retention) {}

std::string Membership::NewId(Role role) {
  const char* prefix = role == ROLE_SERVER ? "server" : "worker";
  while (true) {
    std::string id = absl::StrFormat("%s-%08x", prefix, absl::Uniform<uint32_t>(bitgen_));
    if (nodes_.count(id) == 0) return id;
  }
}

NodeEntry& Membership::Register(NodeInfo info, absl::Time now) {
  if (info.node_id().empty()) info.set_node_id(NewId(info.role()));
  NodeEntry& node = nodes_[info.node_id()];
  const bool fresh = node.info.node_id().empty();
  node.info = std::move(info);
  node.state = NODE_IDLE;
  node.awaiting = false;
  node.leaving = false;
  node.job_id.clear();
  node.rank = -1;
  if (fresh) node.order = next_order_++;
  node.last_heartbeat = now;
  node.deadline = now + timeout_;
  return node;
}

NodeEntry& Membership::AddAwaiting(NodeInfo info, const std::string& job_id, int rank,
                                   absl::Time deadline) {
  NodeEntry& node = nodes_[info.node_id()];
  node.info = std::move(info);
  node.state = NODE_BUSY;
  node.awaiting = true;
  node.job_id = job_id;
  node.rank = rank;
  node.order = next_order_++;
  node.deadline = deadline;
  return node;
}

NodeEntry* Membership::Find(const std::string& node_id) {
  auto it = nodes_.find(node_id);
  return it == nodes_.end() ? nullptr : &it->second;
}

NodeEntry* Membership::FindLive(const std::string& node_id) {
  NodeEntry* node = Find(node_id);
  if (node == nullptr || node->awaiting || node->state == NODE_DEAD) return nullptr;
  return node;
}

bool Membership::Heartbeat(const std::string& node_id, absl::Time now) {
  NodeEntry* node = FindLive(node_id);
  if (node == nullptr) return false;
  node->last_heartbeat = now;
  node->deadline = now + timeout_;
  return true;
}

std::vector<std::string> Membership::Expire(absl::Time now) {
  std::vector<std::string> dead;
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    NodeEntry& node = it->second;
    if (node.state == NODE_DEAD) {
      if (now - node.dead_since > dead_retention_) {
        it = nodes_.erase(it);
        continue;
      }
    } else if (now > node.deadline) {
      node.state = NODE_DEAD;
      node.dead_since = now;
      dead.push_back(it->first);
    }
    ++it;
  }
  return dead;
}

void Membership::Assign(NodeEntry& node, Assignment assignment) {
  assignment.set_version(node.assignment.version() + 1);
  node.assignment = std::move(assignment);
}

void Membership::SetIdle(NodeEntry& node) {
  if (node.state != NODE_DEAD) node.state = NODE_IDLE;
  node.job_id.clear();
  node.rank = -1;
}

void Membership::SetBusy(NodeEntry& node, const std::string& job_id, int rank) {
  node.state = NODE_BUSY;
  node.job_id = job_id;
  node.rank = rank;
}

std::vector<NodeEntry*> Membership::Live(Role role, NodeState state) {
  std::vector<NodeEntry*> out;
  for (auto& [id, node] : nodes_) {
    if (node.info.role() == role && node.state == state && !node.awaiting && !node.leaving) {
      out.push_back(&node);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const NodeEntry* a, const NodeEntry* b) { return a->order < b->order; });
  return out;
}

std::vector<const NodeEntry*> Membership::All() const {
  std::vector<const NodeEntry*> out;
  for (const auto& [id, node] : nodes_) out.push_back(&node);
  std::sort(out.begin(), out.end(),
            [](const NodeEntry* a, const NodeEntry* b) { return a->order < b->order; });
  return out;
}

}  // namespace psd
