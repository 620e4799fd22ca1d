#include "coordinator/job_store.h"

#include <sqlite3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace psd {
namespace {

// Schema 1: jobs, their members and events.
constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  state INTEGER NOT NULL,
  reason TEXT NOT NULL,
  spec_yaml TEXT NOT NULL,
  resume_from TEXT NOT NULL,
  submitted_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  ended_ms INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  workers_started INTEGER NOT NULL,
  progress BLOB NOT NULL,
  result BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS job_members (
  job_id TEXT NOT NULL,
  role INTEGER NOT NULL,
  rank INTEGER NOT NULL,
  node_id TEXT NOT NULL,
  address TEXT NOT NULL,
  state INTEGER NOT NULL,
  ready INTEGER NOT NULL,
  PRIMARY KEY (job_id, role, rank)
);
CREATE TABLE IF NOT EXISTS job_events (
  job_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  text TEXT NOT NULL,
  PRIMARY KEY (job_id, idx)
);
)sql";

// Schema 1 -> 2: recovery from a lost server (resume step, recovery state, checkpoints).
constexpr char kMigrateTo2[] = R"sql(
ALTER TABLE jobs ADD COLUMN resume_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN resume_dir TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN recovering INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN recovery_deadline_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN failure_step INTEGER NOT NULL DEFAULT 0;
CREATE TABLE job_checkpoints (
  job_id TEXT NOT NULL,
  step INTEGER NOT NULL,
  rank INTEGER NOT NULL,
  PRIMARY KEY (job_id, step, rank)
);
CREATE TABLE job_unusable_checkpoints (
  job_id TEXT NOT NULL,
  step INTEGER NOT NULL,
  PRIMARY KEY (job_id, step)
);
)sql";

// Schema 2 -> 3: the certificate name of each member (mutual TLS).
constexpr char kMigrateTo3[] = R"sql(
ALTER TABLE job_members ADD COLUMN identity TEXT NOT NULL DEFAULT '';
)sql";

// Schema 3 -> 4: elastic workers (the membership, the scale asked for, the bound on the step
// horizons granted, the segments the servers applied), as a JobInfo holding only those fields.
constexpr char kMigrateTo4[] = R"sql(
ALTER TABLE jobs ADD COLUMN elastic BLOB NOT NULL DEFAULT x'';
)sql";

// kMigrations[v] upgrades schema v to v + 1; schema 0 is an empty file.
constexpr const char* kMigrations[] = {kSchema, kMigrateTo2, kMigrateTo3, kMigrateTo4};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == JobStore::kSchemaVersion);

// A prepared statement, finalized on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return rc_ == SQLITE_OK; }
  Statement& Bind(int i, int64_t v) {
    Check(sqlite3_bind_int64(stmt_, i, v));
    return *this;
  }
  Statement& Bind(int i, const std::string& v) {
    Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Statement& BindBlob(int i, const std::string& v) {
    Check(sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE, or an error code.
  int Step() {
    if (rc_ != SQLITE_OK) return rc_;
    return sqlite3_step(stmt_);
  }
  bool Run() { return Step() == SQLITE_DONE; }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, col));
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && rc_ == SQLITE_OK) rc_ = rc;
  }
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

std::vector<MemberRecord>& MembersOf(JobRecord& job, Role role) {
  return role == ROLE_SERVER ? job.servers : job.workers;
}

// The elastic fields of `info` (workers and servers), alone (the jobs table's `elastic` column).
std::string ElasticFields(const JobInfo& info) {
  JobInfo fields;
  *fields.mutable_membership() = info.membership();
  fields.set_scale_target(info.scale_target());
  fields.set_step_horizon(info.step_horizon());
  fields.set_membership_applied(info.membership_applied());
  fields.set_server_scale_target(info.server_scale_target());
  fields.set_server_change_step(info.server_change_step());
  fields.set_server_change_to(info.server_change_to());
  return fields.SerializeAsString();
}

}  // namespace

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open state file ", path, ": ", message));
  }
  std::unique_ptr<JobStore> store(new JobStore(db, path));
  sqlite3_busy_timeout(db, 5000);
  PSD_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  PSD_RETURN_IF_ERROR(store->SetDurability(Durability::kFull));

  Statement version(db, "PRAGMA user_version");
  if (version.Step() != SQLITE_ROW) return store->Error("reading the schema version");
  const int64_t found = version.Int(0);
  if (found > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat("state file ", path, " has schema version ",
                                                      found, ", newer than this psd-coordinator's ",
                                                      kSchemaVersion));
  }
  if (found < kSchemaVersion) PSD_RETURN_IF_ERROR(store->Migrate(found));
  return store;
}

absl::Status JobStore::Migrate(int64_t from_version) {
  PSD_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status status;
  for (int64_t v = from_version; v < kSchemaVersion && status.ok(); ++v) {
    status = Exec(kMigrations[v]);
  }
  if (status.ok()) {
    status = Exec(absl::StrCat("PRAGMA user_version = ", kSchemaVersion).c_str());
  }
  if (!status.ok()) {
    Exec("ROLLBACK").IgnoreError();
    return status;
  }
  return Exec("COMMIT");
}

JobStore::~JobStore() { sqlite3_close(db_); }

absl::Status JobStore::Error(const std::string& what) const {
  return absl::InternalError(
      absl::StrCat("state file ", path_, ": ", what, ": ", sqlite3_errmsg(db_)));
}

absl::Status JobStore::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return absl::InternalError(absl::StrCat("state file ", path_, ": ", text));
  }
  return absl::OkStatus();
}

absl::Status JobStore::SetDurability(Durability durability) {
  const int wanted = durability == Durability::kFull ? 2 : 1;  // FULL : NORMAL
  if (wanted == synchronous_) return absl::OkStatus();
  PSD_RETURN_IF_ERROR(Exec(wanted == 2 ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL"));
  synchronous_ = wanted;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<JobRecord>> JobStore::LoadAll() {
  std::vector<JobRecord> jobs;
  Statement rows(db_,
                 "SELECT id, seq, name, state, reason, spec_yaml, resume_from, submitted_ms, "
                 "started_ms, ended_ms, generation, workers_started, progress, result, "
                 "resume_step, resume_dir, recovering, recovery_deadline_ms, failure_step, elastic "
                 "FROM jobs ORDER BY seq, id");
  int rc;
  while ((rc = rows.Step()) == SQLITE_ROW) {
    JobRecord job;
    JobInfo& info = job.info;
    info.set_job_id(rows.Text(0));
    job.seq = rows.Int(1);
    info.set_name(rows.Text(2));
    info.set_state(static_cast<JobState>(rows.Int(3)));
    info.set_reason(rows.Text(4));
    info.set_spec_yaml(rows.Text(5));
    job.resume_from = rows.Text(6);
    info.set_submitted_ms(rows.Int(7));
    info.set_started_ms(rows.Int(8));
    info.set_ended_ms(rows.Int(9));
    info.set_generation(rows.Int(10));
    job.workers_started = rows.Int(11) != 0;
    if (!info.mutable_progress()->ParseFromString(rows.Text(12)) ||
        !info.mutable_result()->ParseFromString(rows.Text(13))) {
      return absl::DataLossError(
          absl::StrCat("state file ", path_, ": job ", info.job_id(), ": corrupt progress"));
    }
    job.resume_step = rows.Int(14);
    job.resume_dir = rows.Text(15);
    job.recovery.active = rows.Int(16) != 0;
    job.recovery.deadline_ms = rows.Int(17);
    job.recovery.failure_step = rows.Int(18);
    JobInfo elastic;
    if (!elastic.ParseFromString(rows.Text(19))) {
      return absl::DataLossError(absl::StrCat("state file ", path_, ": job ", info.job_id(),
                                              ": corrupt elastic-worker state"));
    }
    *info.mutable_membership() = elastic.membership();
    info.set_scale_target(elastic.scale_target());
    info.set_step_horizon(elastic.step_horizon());
    info.set_membership_applied(elastic.membership_applied());
    info.set_server_scale_target(elastic.server_scale_target());
    info.set_server_change_step(elastic.server_change_step());
    info.set_server_change_to(elastic.server_change_to());
    jobs.push_back(std::move(job));
  }
  if (rc != SQLITE_DONE) return Error("reading jobs");
  for (JobRecord& job : jobs) PSD_RETURN_IF_ERROR(LoadDetails(job));
  return jobs;
}

absl::Status JobStore::LoadDetails(JobRecord& job) {
  const std::string& id = job.info.job_id();
  Statement members(db_,
                    "SELECT role, rank, node_id, address, state, ready, identity FROM job_members "
                    "WHERE job_id = ? ORDER BY role, rank");
  members.Bind(1, id);
  int rc;
  while ((rc = members.Step()) == SQLITE_ROW) {
    std::vector<MemberRecord>& list = MembersOf(job, static_cast<Role>(members.Int(0)));
    const int64_t rank = members.Int(1);
    if (rank < 0 || rank != static_cast<int64_t>(list.size())) {
      return absl::DataLossError(
          absl::StrCat("state file ", path_, ": job ", id, ": ranks not contiguous"));
    }
    MemberRecord m;
    m.node_id = members.Text(2);
    m.address = members.Text(3);
    m.state = static_cast<MemberRecord::State>(members.Int(4));
    m.ready = members.Int(5) != 0;
    m.identity = members.Text(6);
    list.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return Error("reading job members");
  for (const MemberRecord& m : job.servers) job.info.add_server_nodes(m.node_id);
  for (const MemberRecord& m : job.workers) job.info.add_worker_nodes(m.node_id);

  Statement events(db_, "SELECT text FROM job_events WHERE job_id = ? ORDER BY idx");
  events.Bind(1, id);
  while ((rc = events.Step()) == SQLITE_ROW) job.info.add_events(events.Text(0));
  if (rc != SQLITE_DONE) return Error("reading job events");

  Statement checkpoints(db_, "SELECT step, rank FROM job_checkpoints WHERE job_id = ?");
  checkpoints.Bind(1, id);
  while ((rc = checkpoints.Step()) == SQLITE_ROW) {
    job.checkpoints[checkpoints.Int(0)].insert(static_cast<int>(checkpoints.Int(1)));
  }
  if (rc != SQLITE_DONE) return Error("reading job checkpoints");
  Statement unusable(db_, "SELECT step FROM job_unusable_checkpoints WHERE job_id = ?");
  unusable.Bind(1, id);
  while ((rc = unusable.Step()) == SQLITE_ROW) job.unusable_steps.insert(unusable.Int(0));
  if (rc != SQLITE_DONE) return Error("reading job checkpoints");
  return absl::OkStatus();
}

absl::Status JobStore::Save(const JobRecord& job, Durability durability) {
  PSD_RETURN_IF_ERROR(SetDurability(durability));
  PSD_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  absl::Status status = SaveInTransaction(job);
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) Exec("ROLLBACK").IgnoreError();
  return status;
}

absl::Status JobStore::SaveInTransaction(const JobRecord& job) {
  const JobInfo& info = job.info;
  Statement row(
      db_,
      "INSERT OR REPLACE INTO jobs (id, seq, name, state, reason, spec_yaml, "
      "resume_from, submitted_ms, started_ms, ended_ms, generation, workers_started, "
      "progress, result, resume_step, resume_dir, recovering, recovery_deadline_ms, "
      "failure_step, elastic) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  row.Bind(1, info.job_id())
      .Bind(2, job.seq)
      .Bind(3, info.name())
      .Bind(4, static_cast<int64_t>(info.state()))
      .Bind(5, info.reason())
      .Bind(6, info.spec_yaml())
      .Bind(7, job.resume_from)
      .Bind(8, info.submitted_ms())
      .Bind(9, info.started_ms())
      .Bind(10, info.ended_ms())
      .Bind(11, info.generation())
      .Bind(12, int64_t{job.workers_started})
      .BindBlob(13, info.progress().SerializeAsString())
      .BindBlob(14, info.result().SerializeAsString())
      .Bind(15, job.resume_step)
      .Bind(16, job.resume_dir)
      .Bind(17, int64_t{job.recovery.active})
      .Bind(18, job.recovery.deadline_ms)
      .Bind(19, job.recovery.failure_step)
      .BindBlob(20, ElasticFields(info));
  if (!row.Run()) return Error(absl::StrCat("saving job ", info.job_id()));
  PSD_RETURN_IF_ERROR(SaveMembers(job));
  PSD_RETURN_IF_ERROR(SaveEvents(job));
  return SaveCheckpoints(job);
}

absl::Status JobStore::SaveMembers(const JobRecord& job) {
  const std::string& id = job.info.job_id();
  Statement clear(db_, "DELETE FROM job_members WHERE job_id = ?");
  clear.Bind(1, id);
  if (!clear.Run()) return Error(absl::StrCat("saving members of job ", id));
  Statement member(db_,
                   "INSERT INTO job_members (job_id, role, rank, node_id, address, state, ready, "
                   "identity) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  for (Role role : {ROLE_SERVER, ROLE_WORKER}) {
    const auto& list = role == ROLE_SERVER ? job.servers : job.workers;
    for (size_t rank = 0; rank < list.size(); ++rank) {
      const MemberRecord& m = list[rank];
      member.Reset();
      member.Bind(1, id)
          .Bind(2, static_cast<int64_t>(role))
          .Bind(3, static_cast<int64_t>(rank))
          .Bind(4, m.node_id)
          .Bind(5, m.address)
          .Bind(6, static_cast<int64_t>(m.state))
          .Bind(7, int64_t{m.ready})
          .Bind(8, m.identity);
      if (!member.Run()) return Error(absl::StrCat("saving members of job ", id));
    }
  }
  return absl::OkStatus();
}

absl::Status JobStore::SaveEvents(const JobRecord& job) {
  const std::string& id = job.info.job_id();
  Statement event(db_, "INSERT OR IGNORE INTO job_events (job_id, idx, text) VALUES (?, ?, ?)");
  for (int i = 0; i < job.info.events_size(); ++i) {
    event.Reset();
    event.Bind(1, id).Bind(2, int64_t{i}).Bind(3, job.info.events(i));
    if (!event.Run()) return Error(absl::StrCat("saving events of job ", id));
  }
  return absl::OkStatus();
}

absl::Status JobStore::SaveCheckpoints(const JobRecord& job) {
  const std::string& id = job.info.job_id();
  const std::string what = absl::StrCat("saving checkpoints of job ", id);
  Statement clear(db_, "DELETE FROM job_checkpoints WHERE job_id = ?");
  clear.Bind(1, id);
  Statement clear_unusable(db_, "DELETE FROM job_unusable_checkpoints WHERE job_id = ?");
  clear_unusable.Bind(1, id);
  if (!clear.Run() || !clear_unusable.Run()) return Error(what);
  Statement written(db_, "INSERT INTO job_checkpoints (job_id, step, rank) VALUES (?, ?, ?)");
  for (const auto& [step, ranks] : job.checkpoints) {
    for (int rank : ranks) {
      written.Reset();
      written.Bind(1, id).Bind(2, step).Bind(3, int64_t{rank});
      if (!written.Run()) return Error(what);
    }
  }
  Statement unusable(db_, "INSERT INTO job_unusable_checkpoints (job_id, step) VALUES (?, ?)");
  for (int64_t step : job.unusable_steps) {
    unusable.Reset();
    unusable.Bind(1, id).Bind(2, step);
    if (!unusable.Run()) return Error(what);
  }
  return absl::OkStatus();
}

absl::Status JobStore::SaveProgress(const std::string& job_id, const Progress& progress) {
  PSD_RETURN_IF_ERROR(SetDurability(Durability::kRelaxed));
  Statement update(db_, "UPDATE jobs SET progress = ? WHERE id = ?");
  update.BindBlob(1, progress.SerializeAsString()).Bind(2, job_id);
  if (!update.Run()) return Error(absl::StrCat("saving progress of job ", job_id));
  return absl::OkStatus();
}

}  // namespace psd
