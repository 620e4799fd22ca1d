// ServerNode against a fake coordinator link: assignments become served jobs, and each
// outcome is reported.
#include "server/server_node.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "node/fake_coordinator_link.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

std::string Yaml(const std::string& extra = "") {
  return absl::StrCat(R"(name: unit
model:
  type: logreg
  input_dim: 16
  num_classes: 4
data:
  train_images: /nonexistent/images
  train_labels: /nonexistent/labels
  test_images: /nonexistent/images
  test_labels: /nonexistent/labels
training:
  max_steps: 10
  batch_size: 8
cluster:
  servers: 1
  workers: 2
)",
                      extra);
}

Assignment Run(const std::string& job_id, const std::string& yaml, int64_t generation = 1) {
  Assignment a;
  a.set_action(Assignment::ACTION_RUN);
  a.set_role(ROLE_SERVER);
  a.set_job_id(job_id);
  a.set_generation(generation);
  a.set_rank(0);
  a.set_num_workers(2);
  a.add_server_addresses("127.0.0.1:1");
  a.add_live_workers(0);
  a.add_live_workers(1);
  a.set_spec_yaml(yaml);
  return a;
}

struct Fixture {
  JobRegistry jobs;
  testing::FakeCoordinatorLink link;
  ServerNode node{&jobs};
  Fixture() { node.set_link(&link); }
};

TEST_CASE("ServerNode serves an assigned job, reports it ready, and ends it on stop") {
  Fixture f;
  f.node.OnAssignment(Run("job-1", Yaml()));
  REQUIRE(f.link.tasks().size() == 1);
  const TaskReport ready = f.link.tasks()[0];
  CHECK(ready.kind() == TaskReport::KIND_READY);
  CHECK(ready.role() == ROLE_SERVER);
  CHECK(ready.job_id() == "job-1");
  CHECK(ready.generation() == 1);
  CHECK(f.jobs.Get("job-1", 1).ok());
  // The same generation again (membership changed): no second init, no second report.
  Assignment fewer = Run("job-1", Yaml());
  fewer.clear_live_workers();
  fewer.add_live_workers(0);
  f.node.OnAssignment(fewer);
  CHECK(f.link.tasks().size() == 1);
  // A pause keeps the job; a stop ends it.
  Assignment pause = fewer;
  pause.set_action(Assignment::ACTION_PAUSE);
  f.node.OnAssignment(pause);
  CHECK(f.jobs.Get("job-1", 1).ok());
  Assignment stop;
  stop.set_action(Assignment::ACTION_STOP);
  f.node.OnAssignment(stop);
  CHECK(f.jobs.Find("job-1") == nullptr);
}

int Served(JobRegistry& jobs) {
  int n = 0;
  jobs.ForEach([&n](ServedJob&) { ++n; });
  return n;
}

// The coordinator assigns a node one job at a time; when a job ends and the next starts at
// once, the node's assignment stream may deliver the next RUN without the STOP before it.
TEST_CASE("ServerNode ends the job it served when a RUN of another job replaces it") {
  Fixture f;
  for (int j = 1; j <= 12; ++j) {
    f.node.OnAssignment(Run(absl::StrCat("job-", j), Yaml()));
    CHECK(Served(f.jobs) == 1);
  }
  Assignment pause = Run("job-13", Yaml());
  pause.set_action(Assignment::ACTION_PAUSE);
  f.node.OnAssignment(pause);
  CHECK(Served(f.jobs) == 0);
}

TEST_CASE("ServerNode reports a job it cannot serve, and an unusable checkpoint") {
  Fixture f;
  f.node.OnAssignment(Run("bad", "model: {type: mlp, hidden: [0]}\n"));
  REQUIRE(f.link.tasks().size() == 1);
  CHECK(f.link.tasks()[0].kind() == TaskReport::KIND_FAILED);
  CHECK_THAT(f.link.tasks()[0].message(), Catch::Contains("job bad"));
  CHECK(f.jobs.Find("bad") == nullptr);

  const std::string dir = testing::MakeTempDir("server-node");
  Assignment resume = Run("resumed", Yaml(absl::StrCat("checkpoint:\n  dir: ", dir, "\n")), 2);
  resume.set_resume_step(40);  // no such checkpoint on disk
  f.node.OnAssignment(resume);
  REQUIRE(f.link.tasks().size() == 2);
  const TaskReport unusable = f.link.tasks()[1];
  CHECK(unusable.kind() == TaskReport::KIND_CHECKPOINT_UNUSABLE);
  CHECK(unusable.step() == 40);
  CHECK_FALSE(unusable.message().empty());
}

TEST_CASE("ServerNode hands off: checkpoint reported before leaving") {
  Fixture f;
  const std::string dir = testing::MakeTempDir("server-node-handoff");
  f.node.OnAssignment(Run("job-5", Yaml(absl::StrCat("checkpoint:\n  dir: ", dir, "\n"))));
  REQUIRE(f.link.tasks().size() == 1);
  f.link.set_checkpoint_step(int64_t{7});
  // The checkpoint writer finishes step 7 a little later, on its own thread.
  std::thread writer([&f] {
    absl::SleepFor(absl::Milliseconds(200));
    f.node.OnCheckpoint({"job-5", 7, 1, 0, 1}, absl::OkStatus());
  });
  const absl::Time start = absl::Now();
  f.node.HandOff(absl::Seconds(20));
  writer.join();
  CHECK(absl::Now() - start < absl::Seconds(10));  // woken by the checkpoint, not the grace
  CHECK(f.link.checkpoint_requests() == std::vector<std::string>{"job-5"});
  const std::vector<TaskReport> tasks = f.link.tasks();
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[1].kind() == TaskReport::KIND_CHECKPOINTED);
  CHECK(tasks[1].step() == 7);
  CHECK(tasks[2].kind() == TaskReport::KIND_LEAVING);
  CHECK(tasks[2].job_id() == "job-5");
}

TEST_CASE("ServerNode reports a checkpoint it could not write, and stops waiting for it") {
  Fixture f;
  const std::string dir = testing::MakeTempDir("server-node-ckpt-failed");
  f.node.OnAssignment(Run("job-8", Yaml(absl::StrCat("checkpoint:\n  dir: ", dir, "\n"))));
  f.link.set_checkpoint_step(int64_t{9});
  std::thread writer([&f] {
    absl::SleepFor(absl::Milliseconds(200));
    f.node.OnCheckpoint(
        {"job-8", 9, 1, 0, 1},
        absl::InternalError("cannot create /ckpt/job-8/9: No space left on device"));
  });
  const absl::Time start = absl::Now();
  f.node.HandOff(absl::Seconds(20));
  writer.join();
  CHECK(absl::Now() - start < absl::Seconds(10));  // woken by the failure, not the grace
  const std::vector<TaskReport> tasks = f.link.tasks();
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[1].kind() == TaskReport::KIND_CHECKPOINT_FAILED);
  CHECK(tasks[1].step() == 9);
  CHECK(tasks[1].generation() == 1);
  CHECK(tasks[1].message() == "cannot create /ckpt/job-8/9: No space left on device");
  CHECK(tasks[2].kind() == TaskReport::KIND_LEAVING);
}

TEST_CASE("ServerNode hands off within its grace when no checkpoint comes") {
  Fixture f;
  const std::string dir = testing::MakeTempDir("server-node-grace");
  f.node.OnAssignment(Run("job-9", Yaml(absl::StrCat("checkpoint:\n  dir: ", dir, "\n"))));
  f.link.set_checkpoint_step(int64_t{11});  // never written
  const absl::Time start = absl::Now();
  f.node.HandOff(absl::Milliseconds(500));
  CHECK(absl::Now() - start < absl::Seconds(2));
  CHECK(f.link.tasks().back().kind() == TaskReport::KIND_LEAVING);
}

TEST_CASE("ServerNode reports the faults of a job: non-finite counts, a failure") {
  Fixture f;
  f.node.OnAssignment(Run("job-10", Yaml()));
  std::shared_ptr<ServedJob> job = f.jobs.Find("job-10");
  REQUIRE(job != nullptr);
  ShardStats stats;
  stats.nonfinite_rejected = 2;
  stats.nonfinite_skipped = 5;
  f.node.OnJobFaults(*job, stats, absl::OkStatus());
  f.node.OnJobFaults(*job, stats, absl::InvalidArgumentError("worker 1 step 3: chunk 0 ..."));
  const std::vector<TaskReport> tasks = f.link.tasks();
  REQUIRE(tasks.size() == 3);
  CHECK(tasks[1].kind() == TaskReport::KIND_NONFINITE_GRADIENTS);
  CHECK(tasks[1].faults().nonfinite_pushes_rejected() == 2);
  CHECK(tasks[1].faults().nonfinite_chunks_skipped() == 5);
  CHECK(tasks[2].kind() == TaskReport::KIND_FAILED);
  CHECK(tasks[2].message() == "worker 1 step 3: chunk 0 ...");
  CHECK(tasks[2].job_id() == "job-10");
}

TEST_CASE("ServerNode leaves without a checkpoint when the coordinator refuses one") {
  Fixture f;
  const std::string dir = testing::MakeTempDir("server-node-refused");
  f.node.OnAssignment(Run("job-7", Yaml(absl::StrCat("checkpoint:\n  dir: ", dir, "\n"))));
  f.link.set_checkpoint_step(absl::FailedPreconditionError("job job-7 is not running"));
  f.node.HandOff(absl::Seconds(20));
  const std::vector<TaskReport> tasks = f.link.tasks();
  REQUIRE(tasks.size() == 2);
  CHECK(tasks[1].kind() == TaskReport::KIND_LEAVING);
}

}  // namespace
}  // namespace psd
