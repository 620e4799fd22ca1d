// Names the parameter servers of a job that are persistently slower than the others, from
// the per-server call timings in the workers' progress reports (proto ServerTiming), and says
// where the time goes:
//  - apply: its round trip per chunk RPC is slower than the other servers' median for calls of
//    the same size class (ServerTiming.size_class: a server holding the big chunks is not slow
//    for that), by the options of straggler_detector.h (threshold, minimum excess, share of a
//    step), and its own time per call (queueing for its work threads, applying pushes, in sync
//    jobs waiting for the other workers' pushes to it, encoding the reply) is slower than the
//    others' by the threshold and the minimum excess too (calls that queue for a busy server's
//    gRPC threads are counted in the round trip only, so an overloaded server shows much of
//    its excess as network; its own time still stands out);
//  - network: a slower round trip while the server's own time is like the others'.
// Servers are compared with each other, not with a fixed figure: every chunk RPC of one
// worker's step shares that worker's pace, so what differs between servers is theirs. Judged
// once per reporting interval (when every live worker has reported), over every worker's latest
// report; named and cleared as in coordinator/persistent_verdict.h. Not thread-safe:
// the job manager calls it under its lock.
#ifndef PSD_COORDINATOR_SLOW_SERVER_DETECTOR_H_
#define PSD_COORDINATOR_SLOW_SERVER_DETECTOR_H_

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "coordinator/persistent_verdict.h"
#include "coordinator/straggler_detector.h"
#include "proto/common.pb.h"
#include "proto/coordinator.pb.h"

namespace psd {

class SlowServerDetector {
 public:
  explicit SlowServerDetector(StragglerOptions options) : options_(options) {}

  // Worker `rank`'s latest report (replacing its previous one), of a job with `workers` live
  // workers; reports with no server timings are ignored. Returns the servers named or cleared
  // by the judgment this report completes, if any.
  std::vector<NamingChange> Observe(int rank, const Progress& progress, int workers);
  // A worker that left the job: its timings no longer count.
  void Forget(int rank);
  // Each server's load over the workers' latest reports, by server rank (node_id unset).
  const std::vector<ServerLoad>& loads() const { return loads_; }
  // The servers named now, by rank (node_id unset).
  std::vector<Straggler> Current() const;

 private:
  struct Report {
    std::vector<ServerTiming> servers;
    int steps = 0;                // the steps the timings are over
    double interval_seconds = 0;  // and their time
  };
  struct Sums {
    int64_t calls = 0;
    double rpc = 0, apply = 0;  // seconds, summed over the calls
  };
  void Aggregate();
  Verdict Judge(int rank) const;

  const StragglerOptions options_;
  std::map<int, Report> workers_;  // by worker rank
  std::set<int> fresh_;            // workers that reported since the last judgment
  std::vector<ServerLoad> loads_;
  std::map<int, std::map<int, Sums>> classes_;  // size class -> server rank -> its calls
  double step_seconds_ = 0;                     // the workers' median step
  std::map<int, PersistentVerdict> servers_;    // by server rank
};

}  // namespace psd

#endif  // PSD_COORDINATOR_SLOW_SERVER_DETECTOR_H_
