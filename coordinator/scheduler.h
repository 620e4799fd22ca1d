// Which idle nodes a queued job gets, and what it waits for when there are too few.
// Pure functions: the job manager passes in the cluster's state.
#ifndef PSD_COORDINATOR_SCHEDULER_H_
#define PSD_COORDINATOR_SCHEDULER_H_

#include <string>
#include <vector>

#include "proto/common.pb.h"

namespace psd {

// An idle, live node that could take a rank.
struct Candidate {
  std::string node_id;
  int preferred_rank = -1;
  bool has_cuda = false;  // reports a usable cuda device
};

struct Requirements {
  int servers = 1;
  int workers = 1;
  bool workers_need_cuda = false;
};

struct NodeCounts {
  std::vector<Candidate> idle_servers;  // in registration order
  std::vector<Candidate> idle_workers;  // in registration order
  int busy_servers = 0;
  int busy_workers = 0;
};

struct Pick {
  bool ready = false;
  std::vector<std::string> servers;  // node ids by rank, when ready
  std::vector<std::string> workers;
  std::string reason;  // when not ready: "waiting: 1 of 2 workers registered"
};

// Chooses `servers` servers and `workers` workers, or says what is missing.
Pick PickNodes(const Requirements& need, const NodeCounts& nodes);

// Node ids by rank 0..n-1: a candidate keeps its preferred rank when it is free and below n;
// the rest fill the remaining ranks in registration order. Empty if fewer than n candidates.
std::vector<std::string> AssignRanks(int n, const std::vector<Candidate>& candidates);

// True if `node` reports a cuda device without an error detail.
bool HasUsableCuda(const NodeInfo& node);

}  // namespace psd

#endif  // PSD_COORDINATOR_SCHEDULER_H_
