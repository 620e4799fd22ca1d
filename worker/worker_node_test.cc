// WorkerNode against a fake coordinator link: assignments in, task reports out. Jobs here
// have no servers, so they train in this process (LocalExchange) on tiny IDX files.
#include "worker/worker_node.h"

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/select.h"
#include "node/fake_coordinator_link.h"
#include "tests/fifo.h"
#include "tests/idx_writer.h"
#include "tests/process.h"
#include "tests/testing.h"

namespace psd {
namespace {

// 64 4x4 images of 4 classes (class c lights row c) and their labels, in `dir`.
void WriteBlocks(const std::string& dir) {
  std::vector<uint8_t> pixels, labels;
  for (int i = 0; i < 64; ++i) {
    const int label = i % 4;
    labels.push_back(static_cast<uint8_t>(label));
    for (int p = 0; p < 16; ++p) pixels.push_back(p / 4 == label ? 255 : 0);
  }
  testing::WriteIdx(dir + "/images", {64, 4, 4}, pixels);
  testing::WriteIdx(dir + "/labels", {64}, labels);
}

std::string JobYaml(const std::string& dir, int64_t max_steps, const std::string& extra = "") {
  return absl::StrCat(R"(name: unit
model:
  type: logreg
  input_dim: 16
  num_classes: 4
data:
  train_images: )",
                      dir, "/images\n  train_labels: ", dir, "/labels\n  test_images: ", dir,
                      "/images\n  test_labels: ", dir, R"(/labels
training:
  max_steps: )",
                      max_steps, R"(
  batch_size: 8
  log_every: 5
  optimizer:
    type: sgd
    learning_rate: 0.5
cluster:
  servers: 1
  workers: 1
  device: cpu
)",
                      extra);
}

Assignment Run(const std::string& job_id, const std::string& yaml, int64_t generation = 1) {
  Assignment a;
  a.set_action(Assignment::ACTION_RUN);
  a.set_role(ROLE_WORKER);
  a.set_job_id(job_id);
  a.set_generation(generation);
  a.set_rank(0);
  a.set_num_workers(1);
  a.set_spec_yaml(yaml);
  return a;
}

Assignment Stop(const std::string& job_id) {
  Assignment a;
  a.set_action(Assignment::ACTION_STOP);
  a.set_job_id(job_id);
  return a;
}

TEST_CASE("WorkerNode trains an assigned job and reports its result and model file") {
  const std::string dir = testing::MakeTempDir("worker-node");
  WriteBlocks(dir);
  testing::FakeCoordinatorLink link;
  std::vector<std::string> ended;
  WorkerNodeOptions options;
  options.cpu_threads = 1;
  options.on_job_ended = [&ended](const std::string& id) { ended.push_back(id); };
  WorkerNode node(options);
  node.set_link(&link);
  node.OnAssignment(
      Run("job-1", JobYaml(dir, 40, absl::StrCat("checkpoint:\n  dir: ", dir, "/ckpt\n"))));
  auto done = link.WaitFor(TaskReport::KIND_SUCCEEDED, absl::Seconds(60));
  REQUIRE(done.has_value());
  CHECK(done->job_id() == "job-1");
  CHECK(done->role() == ROLE_WORKER);
  CHECK(done->generation() == 1);
  CHECK(done->result().steps() == 40);
  CHECK(done->result().test_accuracy() == 1.0);
  CHECK(done->result().model_path() == dir + "/ckpt/job-1/model.psdm");
  CHECK_FALSE(testing::ReadFile(done->result().model_path()).empty());
  CHECK(link.progress_reports() >= 8);  // every 5 steps, and the final evaluation
  CHECK(link.barriers() == std::vector<std::string>{"trained"});
  // The coordinator ends the job: the node calls back once.
  node.OnAssignment(Stop("job-1"));
  CHECK(ended == std::vector<std::string>{"job-1"});
}

TEST_CASE("WorkerNode reports a job it cannot run as failed, naming the cause") {
  const std::string dir = testing::MakeTempDir("worker-node-bad");
  testing::FakeCoordinatorLink link;
  WorkerNode node({});
  node.set_link(&link);
  node.OnAssignment(Run("job-2", JobYaml(dir, 10)));  // no data files written
  auto failed = link.WaitFor(TaskReport::KIND_FAILED, absl::Seconds(30));
  REQUIRE(failed.has_value());
  CHECK_THAT(failed->message(), Catch::Contains("data.train_images"));
  CHECK_THAT(failed->message(), Catch::Contains(dir + "/images"));
  node.OnAssignment(Run("job-3", "model: [unclosed"));
  auto tasks = [&] { return link.tasks().size(); };
  for (int i = 0; i < 300 && tasks() < 2; ++i) absl::SleepFor(absl::Milliseconds(10));
  REQUIRE(link.tasks().size() == 2);
  CHECK(link.tasks()[1].job_id() == "job-3");
  CHECK(link.tasks()[1].kind() == TaskReport::KIND_FAILED);
}

TEST_CASE("WorkerNode leaves a running job on request and reports no failure") {
  const std::string dir = testing::MakeTempDir("worker-node-leave");
  WriteBlocks(dir);
  testing::FakeCoordinatorLink link;
  WorkerNodeOptions options;
  options.cpu_threads = 1;
  options.slowdown = 50;  // a long job: it is still running when the node leaves
  WorkerNode node(options);
  node.set_link(&link);
  node.OnAssignment(Run("job-4", JobYaml(dir, 1000000)));
  for (int i = 0; i < 1000 && link.progress_reports() == 0; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  REQUIRE(link.progress_reports() > 0);
  // The same assignment again (a re-delivery) does not restart the job: its steps go on.
  node.OnAssignment(Run("job-4", JobYaml(dir, 1000000)));
  const size_t before = link.progress_reports();
  for (int i = 0; i < 1000 && link.progress_reports() < before + 2; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const std::vector<int64_t> steps = link.progress_steps();
  REQUIRE(steps.size() >= before + 2);
  for (size_t i = 1; i < steps.size(); ++i) CHECK(steps[i] > steps[i - 1]);
  node.Leave();
  node.StopJob();
  const std::vector<TaskReport> tasks = link.tasks();
  REQUIRE(tasks.size() == 1);
  CHECK(tasks[0].kind() == TaskReport::KIND_LEAVING);
  CHECK(tasks[0].job_id() == "job-4");
  CHECK(tasks[0].message() == "worker shut down (SIGTERM)");
  // With no job, leaving says nothing.
  node.Leave();
  CHECK(link.tasks().size() == 1);
}

// The task reports of `job_id`, once there is one.
std::optional<TaskReport> WaitForTask(testing::FakeCoordinatorLink& link, const std::string& job_id,
                                      absl::Duration timeout = absl::Seconds(30)) {
  std::optional<TaskReport> found;
  testing::WaitUntil(
      [&] {
        for (const TaskReport& r : link.tasks()) {
          if (r.job_id() == job_id) found = r;
        }
        return found.has_value();
      },
      timeout);
  return found;
}

TEST_CASE("WorkerNode fails a job on a bad data file and goes on serving the next job") {
  const std::string dir = testing::MakeTempDir("worker-node-bad-data");
  WriteBlocks(dir);
  const std::string bad = testing::MakeTempDir("worker-node-bad-data");
  // A gzip-compressed file whose header claims more than it holds: only reading the data can
  // find out (the job spec's check reads headers).
  testing::WriteGzip(bad + "/images", testing::IdxBytes({64, 4, 4}, std::vector<uint8_t>(50, 0)));
  testing::WriteIdx(bad + "/labels", {64}, std::vector<uint8_t>(64, 0));
  REQUIRE(testing::MakeFifo(bad + "/fifo"));
  testing::FakeCoordinatorLink link;
  WorkerNodeOptions options;
  options.cpu_threads = 1;
  WorkerNode node(options);
  node.set_link(&link);

  node.OnAssignment(Run("lies", JobYaml(bad, 10)));
  std::optional<TaskReport> lies = WaitForTask(link, "lies");
  REQUIRE(lies.has_value());
  CHECK(lies->kind() == TaskReport::KIND_FAILED);
  CHECK(lies->message() == bad +
                               "/images: truncated: its header says 64 x 4 x 4 = 1024 bytes of "
                               "data, the file decompresses to 50");
  node.OnAssignment(Stop("lies"));

  // A FIFO used to block the job's thread, and with it every later job of this worker.
  std::string fifo_job = JobYaml(dir, 10);
  fifo_job.replace(fifo_job.find(dir + "/labels"), dir.size() + 7, bad + "/fifo");
  node.OnAssignment(Run("fifo", fifo_job));
  std::optional<TaskReport> fifo = WaitForTask(link, "fifo", absl::Seconds(10));
  REQUIRE(fifo.has_value());
  CHECK(fifo->kind() == TaskReport::KIND_FAILED);
  CHECK(fifo->message() ==
        "fifo:8: data.train_labels: not a regular file: " + bad + "/fifo (a FIFO)");
  node.OnAssignment(Stop("fifo"));

  node.OnAssignment(Run("good", JobYaml(dir, 10)));
  std::optional<TaskReport> good = WaitForTask(link, "good", absl::Seconds(60));
  REQUIRE(good.has_value());
  CHECK(good->kind() == TaskReport::KIND_SUCCEEDED);
  CHECK(good->result().steps() == 10);
}

TEST_CASE("WorkerNode refuses data files larger than its limit") {
  const std::string dir = testing::MakeTempDir("worker-node-limit");
  WriteBlocks(dir);
  testing::FakeCoordinatorLink link;
  WorkerNodeOptions options;
  options.max_data_file_bytes = 1000;  // the images hold 64 x 4 x 4 = 1024 bytes
  WorkerNode node(options);
  node.set_link(&link);
  node.OnAssignment(Run("big", JobYaml(dir, 10)));
  std::optional<TaskReport> big = WaitForTask(link, "big");
  REQUIRE(big.has_value());
  CHECK(big->kind() == TaskReport::KIND_FAILED);
  CHECK(big->message() == "big:7: data.train_images: " + dir +
                              "/images: its header says 64 x 4 x 4 = 1024 bytes of data, more "
                              "than the limit of 1000 bytes");
}

TEST_CASE("TrainingDevices names the CPU replicas a worker trains on in order") {
  auto backends = kernels::CreateBackends(kernels::DeviceKind::kCpu, 2, 2);
  REQUIRE(backends.ok());
  std::vector<const kernels::Backend*> list;
  for (const auto& b : *backends) list.push_back(b.get());
  const std::vector<Device> devices = TrainingDevices(list);
  REQUIRE(devices.size() == 2);
  for (int i : {0, 1}) {
    CHECK(devices[i].kind() == "cpu");
    CHECK(devices[i].index() == i);
    CHECK(devices[i].name() == (*backends)[i]->description());
  }
}

}  // namespace
}  // namespace psd
