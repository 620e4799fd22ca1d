// Durable record of the coordinator's jobs: one SQLite file (WAL mode) under --state_dir.
//
// A job is saved whole (row, members, events, elastic-worker state) in one transaction; state
// changes are saved with synchronous=FULL so that an acknowledged change survives a crash of the
// machine, progress with synchronous=NORMAL (survives a crash of the process). Not thread-safe: one
// owner calls it.
#ifndef PSD_COORDINATOR_JOB_STORE_H_
#define PSD_COORDINATOR_JOB_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/coordinator.pb.h"

struct sqlite3;

namespace psd {

// A job's place for one rank, kept across coordinator restarts.
struct MemberRecord {
  enum class State { kLive = 0, kDone = 1, kLost = 2 };
  std::string node_id;
  std::string address;
  State state = State::kLive;
  bool ready = false;  // server: reported READY for the job's current generation
  // The certificate name the node registered with (NodeInfo.identity): a node that
  // re-registers after a coordinator restart must present the same one.
  std::string identity;
};

// A running job's recovery from the loss of a server: its members are paused while lost
// servers are replaced (a server rank is lost) and then while the servers restore the resume
// step (no rank lost, not every server ready yet).
struct RecoveryRecord {
  bool active = false;
  int64_t deadline_ms = 0;   // unix ms by which lost servers must be replaced
  int64_t failure_step = 0;  // the job's step when the recovery began
};

struct JobRecord {
  // What psdctl sees; info.server_nodes and info.worker_nodes mirror `servers` and `workers`.
  JobInfo info;
  int64_t seq = 0;                    // n of the job id "<name>-<n>"
  std::string resume_from;            // the checkpoint the job was submitted to start from
  bool workers_started = false;       // workers were sent ACTION_RUN for the current generation
  std::vector<MemberRecord> servers;  // by rank
  std::vector<MemberRecord> workers;  // by rank
  // Where the current generation starts: step (0: the seed's initialisation) and the directory
  // servers load it from (empty: <checkpoint.dir>/<job id>/<step>).
  int64_t resume_step = 0;
  std::string resume_dir;
  RecoveryRecord recovery;
  // Checkpoints the servers reported written: step -> server ranks.
  std::map<int64_t, std::set<int>> checkpoints;
  // Steps whose checkpoint a server could not load; never resumed from again.
  std::set<int64_t> unusable_steps;
};

enum class Durability { kFull, kRelaxed };

class JobStore {
 public:
  static constexpr int kSchemaVersion = 4;

  // Opens or creates the store at `path`, upgrading an older schema in place. Fails if the
  // file was written by a newer schema.
  static absl::StatusOr<std::unique_ptr<JobStore>> Open(const std::string& path);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  // Every job, in submission order.
  absl::StatusOr<std::vector<JobRecord>> LoadAll();
  // Inserts or replaces `job` with its members and events.
  absl::Status Save(const JobRecord& job, Durability durability);
  // Replaces only the job's latest progress.
  absl::Status SaveProgress(const std::string& job_id, const Progress& progress);

 private:
  explicit JobStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  absl::Status Exec(const char* sql);
  absl::Status SetDurability(Durability durability);
  absl::Status Migrate(int64_t from_version);
  absl::Status SaveInTransaction(const JobRecord& job);
  absl::Status SaveMembers(const JobRecord& job);
  absl::Status SaveEvents(const JobRecord& job);
  absl::Status SaveCheckpoints(const JobRecord& job);
  absl::Status LoadDetails(JobRecord& job);
  absl::Status Error(const std::string& what) const;

  sqlite3* db_;
  std::string path_;
  int synchronous_ = -1;  // last PRAGMA synchronous value set
};

}  // namespace psd

#endif  // PSD_COORDINATOR_JOB_STORE_H_
