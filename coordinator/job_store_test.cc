#include "coordinator/job_store.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

JobRecord RunningJob() {
  JobRecord job;
  job.seq = 7;
  job.resume_from = "/ckpt/a-3/500";
  job.workers_started = true;
  JobInfo& info = job.info;
  info.set_job_id("mnist-7");
  info.set_name("mnist");
  info.set_state(JOB_RUNNING);
  info.set_reason("running");
  info.set_spec_yaml("name: mnist\n");
  info.set_submitted_ms(1000);
  info.set_started_ms(2000);
  info.set_generation(1);
  info.mutable_progress()->set_step(42);
  info.mutable_progress()->set_loss(0.5);
  info.add_events("started on 1 servers and 2 workers");
  MembershipSegment* first = info.add_membership();
  first->set_from_step(0);
  first->add_ranks(0);
  MembershipSegment* grown = info.add_membership();
  grown->set_from_step(41);
  grown->add_ranks(0);
  grown->add_ranks(1);
  info.set_scale_target(3);
  info.set_step_horizon(140);
  info.set_membership_applied(1);
  job.servers.push_back({"server-1", "10.0.0.1:7100", MemberRecord::State::kLive, true, ""});
  job.workers.push_back(
      {"worker-1", "10.0.0.2:7200", MemberRecord::State::kDone, false, "worker-cert-1"});
  job.workers.push_back({"worker-2", "10.0.0.3:7200", MemberRecord::State::kLost, false, ""});
  return job;
}

TEST_CASE("JobStore keeps jobs, members, events and progress across reopening") {
  const std::string path = testing::MakeTempDir("job_store") + "/coordinator.db";
  {
    auto store = JobStore::Open(path);
    REQUIRE(store.ok());
    REQUIRE((*store)->Save(RunningJob(), Durability::kFull).ok());
    JobRecord done;
    done.seq = 8;
    done.info.set_job_id("mnist-8");
    done.info.set_name("mnist");
    done.info.set_state(JOB_SUCCEEDED);
    done.info.set_reason("finished 10 steps");
    done.info.mutable_result()->set_test_accuracy(0.875);
    REQUIRE((*store)->Save(done, Durability::kFull).ok());
    Progress later;
    later.set_step(99);
    REQUIRE((*store)->SaveProgress("mnist-7", later).ok());
  }
  auto store = JobStore::Open(path);
  REQUIRE(store.ok());
  auto jobs = (*store)->LoadAll();
  REQUIRE(jobs.ok());
  REQUIRE(jobs->size() == 2);
  const JobRecord& a = (*jobs)[0];
  CHECK(a.info.job_id() == "mnist-7");
  CHECK(a.seq == 7);
  CHECK(a.info.state() == JOB_RUNNING);
  CHECK(a.info.spec_yaml() == "name: mnist\n");
  CHECK(a.info.started_ms() == 2000);
  CHECK(a.info.progress().step() == 99);
  CHECK(a.resume_from == "/ckpt/a-3/500");
  CHECK(a.workers_started);
  REQUIRE(a.servers.size() == 1);
  CHECK(a.servers[0].ready);
  REQUIRE(a.workers.size() == 2);
  CHECK(a.workers[0].state == MemberRecord::State::kDone);
  CHECK(a.workers[0].identity == "worker-cert-1");
  CHECK(a.workers[1].state == MemberRecord::State::kLost);
  CHECK(a.workers[1].identity.empty());
  CHECK(a.workers[1].address == "10.0.0.3:7200");
  REQUIRE(a.info.worker_nodes_size() == 2);
  CHECK(a.info.worker_nodes(1) == "worker-2");
  REQUIRE(a.info.events_size() == 1);
  // Elastic workers: the membership, the scale asked for, the horizon bound, what was applied.
  REQUIRE(a.info.membership_size() == 2);
  CHECK(a.info.membership(1).from_step() == 41);
  CHECK(a.info.membership(1).ranks_size() == 2);
  CHECK(a.info.scale_target() == 3);
  CHECK(a.info.step_horizon() == 140);
  CHECK(a.info.membership_applied() == 1);
  const JobRecord& b = (*jobs)[1];
  CHECK(b.info.state() == JOB_SUCCEEDED);
  CHECK(b.info.reason() == "finished 10 steps");
  CHECK(b.info.result().test_accuracy() == 0.875);
}

TEST_CASE("JobStore replaces a job saved again") {
  const std::string path = testing::MakeTempDir("job_store") + "/coordinator.db";
  auto store = JobStore::Open(path);
  REQUIRE(store.ok());
  JobRecord job = RunningJob();
  REQUIRE((*store)->Save(job, Durability::kFull).ok());
  job.info.set_state(JOB_FAILED);
  job.info.set_reason("server 0: out of memory");
  job.info.add_events("second event");
  job.workers.pop_back();
  REQUIRE((*store)->Save(job, Durability::kRelaxed).ok());
  auto jobs = (*store)->LoadAll();
  REQUIRE(jobs.ok());
  REQUIRE(jobs->size() == 1);
  CHECK((*jobs)[0].info.state() == JOB_FAILED);
  CHECK((*jobs)[0].info.reason() == "server 0: out of memory");
  CHECK((*jobs)[0].workers.size() == 1);
  CHECK((*jobs)[0].info.events_size() == 2);
}

TEST_CASE("JobStore keeps a recovery's state and the checkpoints written") {
  const std::string path = testing::MakeTempDir("job_store") + "/coordinator.db";
  JobRecord job = RunningJob();
  job.resume_step = 200;
  job.resume_dir = "/ckpt/a-3/200";
  job.recovery.active = true;
  job.recovery.deadline_ms = 123456;
  job.recovery.failure_step = 250;
  job.checkpoints[100] = {0, 1};
  job.checkpoints[200] = {1};
  job.unusable_steps = {300};
  {
    auto store = JobStore::Open(path);
    REQUIRE(store.ok());
    REQUIRE((*store)->Save(job, Durability::kFull).ok());
    job.checkpoints.erase(100);  // saved again: rows replaced, not added
    REQUIRE((*store)->Save(job, Durability::kFull).ok());
  }
  auto store = JobStore::Open(path);
  REQUIRE(store.ok());
  auto jobs = (*store)->LoadAll();
  REQUIRE(jobs.ok());
  REQUIRE(jobs->size() == 1);
  const JobRecord& a = (*jobs)[0];
  CHECK(a.resume_step == 200);
  CHECK(a.resume_dir == "/ckpt/a-3/200");
  CHECK(a.recovery.active);
  CHECK(a.recovery.deadline_ms == 123456);
  CHECK(a.recovery.failure_step == 250);
  CHECK(a.checkpoints == std::map<int64_t, std::set<int>>{{200, {1}}});
  CHECK(a.unusable_steps == std::set<int64_t>{300});
}

TEST_CASE("JobStore upgrades a schema 1 state file in place") {
  const std::string path = testing::MakeTempDir("job_store") + "/coordinator.db";
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  const char* v1 = R"sql(
    CREATE TABLE jobs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, name TEXT NOT NULL,
      state INTEGER NOT NULL, reason TEXT NOT NULL, spec_yaml TEXT NOT NULL,
      resume_from TEXT NOT NULL, submitted_ms INTEGER NOT NULL, started_ms INTEGER NOT NULL,
      ended_ms INTEGER NOT NULL, generation INTEGER NOT NULL, workers_started INTEGER NOT NULL,
      progress BLOB NOT NULL, result BLOB NOT NULL);
    CREATE TABLE job_members (job_id TEXT NOT NULL, role INTEGER NOT NULL, rank INTEGER NOT NULL,
      node_id TEXT NOT NULL, address TEXT NOT NULL, state INTEGER NOT NULL,
      ready INTEGER NOT NULL, PRIMARY KEY (job_id, role, rank));
    CREATE TABLE job_events (job_id TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT NOT NULL,
      PRIMARY KEY (job_id, idx));
    INSERT INTO jobs VALUES ('old-1', 1, 'old', 2, 'running', 'name: old', '/c/x-1/40', 1, 2, 0,
      1, 1, x'', x'');
    PRAGMA user_version = 1;
  )sql";
  REQUIRE(sqlite3_exec(db, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto store = JobStore::Open(path);
  REQUIRE(store.ok());
  auto jobs = (*store)->LoadAll();
  REQUIRE(jobs.ok());
  REQUIRE(jobs->size() == 1);
  const JobRecord& a = (*jobs)[0];
  CHECK(a.info.job_id() == "old-1");
  CHECK(a.resume_from == "/c/x-1/40");
  CHECK(a.resume_step == 0);
  CHECK_FALSE(a.recovery.active);
  CHECK(a.checkpoints.empty());
  JobRecord saved = a;
  saved.checkpoints[10] = {0};
  REQUIRE((*store)->Save(saved, Durability::kFull).ok());
  jobs = (*store)->LoadAll();
  REQUIRE(jobs.ok());
  CHECK((*jobs)[0].checkpoints.size() == 1);
}

TEST_CASE("JobStore refuses a state file of a newer schema") {
  const std::string path = testing::MakeTempDir("job_store") + "/coordinator.db";
  { REQUIRE(JobStore::Open(path).ok()); }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(db);
  auto store = JobStore::Open(path);
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().message().find("schema version 99") != absl::string_view::npos);
}

TEST_CASE("JobStore writes ahead (WAL) and records its schema version") {
  const std::string path = testing::MakeTempDir("job_store") + "/coordinator.db";
  { REQUIRE(JobStore::Open(path).ok()); }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))) == "wal");
  sqlite3_finalize(stmt);
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  CHECK(sqlite3_column_int(stmt, 0) == JobStore::kSchemaVersion);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_CASE("JobStore names the file it cannot open") {
  auto store = JobStore::Open("/nonexistent-dir/x/coordinator.db");
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().message().find("/nonexistent-dir/x/coordinator.db") !=
        absl::string_view::npos);
}

}  // namespace
}  // namespace psd
