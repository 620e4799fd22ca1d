// The coordinator's catalogue of one run of a job's checkpoints: which server ranks reported
// each step written, which steps a server could not load, and where the current generation
// resumed from. It decides where a recovery restarts and which checkpoints are forgotten once
// newer ones are complete (the servers delete their files themselves). The job store keeps it
// in the job's JobRecord. Not thread-safe: the JobManager's mutex guards it.
#ifndef PSD_COORDINATOR_CHECKPOINT_CATALOG_H_
#define PSD_COORDINATOR_CHECKPOINT_CATALOG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "coordinator/job_store.h"

namespace psd {

// Where the servers of a generation start.
struct ResumePoint {
  int64_t step = 0;  // 0: the seed's initialisation
  std::string dir;   // empty: the job's own step dir of `step`
  bool operator==(const ResumePoint& o) const { return step == o.step && dir == o.dir; }
};

class CheckpointCatalog {
 public:
  CheckpointCatalog() = default;
  // A new run on `num_servers` servers that keeps the newest `keep` (at least 1) complete
  // checkpoints, submitted to start from the step dir `resume_from` (empty: the seed).
  CheckpointCatalog(int num_servers, int keep, std::string resume_from);

  // The catalogue SaveTo stored in `rec`. A running job saved before schema 2 resumes from
  // its resume_from.
  static CheckpointCatalog Restore(const JobRecord& rec, int keep);
  // Stores the catalogue in rec.checkpoints, unusable_steps, resume_step and resume_dir.
  void SaveTo(JobRecord& rec) const;

  // Records that server `rank` wrote the checkpoint of `step` (> 0). Returns how many ranks
  // have written it, or 0 if `rank` had already reported it. A step written again is usable
  // again. Once every rank has written it, checkpoints older than the newest `keep` complete
  // ones are forgotten.
  int AddWritten(int64_t step, int rank);
  // Every server rank wrote `step`.
  bool IsComplete(int64_t step) const;
  // A server could not load `step`: it is never resumed from again unless written again.
  void MarkUnusable(int64_t step);

  // Where a new generation should start: the newest complete usable checkpoint, or the
  // submitted start (the seed or resume_from) when that is usable and newer; nullopt if none.
  std::optional<ResumePoint> PickResumePoint() const;
  // Starts a new generation from `point`. Later checkpoints belong to the abandoned run and
  // are forgotten, so pruning keeps `point` until `keep` newer ones are complete.
  void ResumeFrom(const ResumePoint& point);

  // Where the current generation started.
  const ResumePoint& resume() const { return resume_; }
  int num_servers() const { return num_servers_; }
  // step -> the ranks that wrote it.
  const std::map<int64_t, std::set<int>>& written() const { return written_; }
  const std::set<int64_t>& unusable() const { return unusable_; }

 private:
  void Prune();

  int num_servers_ = 0;
  int keep_ = 1;
  std::string resume_from_;
  int64_t submitted_step_ = 0;  // the step of resume_from_; 0: the seed
  ResumePoint resume_;
  std::map<int64_t, std::set<int>> written_;
  std::set<int64_t> unusable_;
};

}  // namespace psd

#endif  // PSD_COORDINATOR_CHECKPOINT_CATALOG_H_
