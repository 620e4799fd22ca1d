// Elastic workers end to end (docs/operations.md, "Elastic workers"): real psd processes on
// 127.0.0.1 through deploy/local/cluster.sh, `psdctl scale` while a job trains on Fashion-MNIST.
// A sync job grown or shrunk at step t must equal one process whose global batch changes at t.
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <optional>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "kernels/select.h"
#include "tests/e2e.h"
#include "tests/testing.h"
#include "worker/batch_plan.h"
#include "worker/idx_reader.h"
#include "worker/local_exchange.h"
#include "worker/model.h"
#include "worker/trainer.h"

namespace psd {
namespace {

using testing::JobOptions;
using testing::LocalCluster;

// A job on one server and `workers` workers; `training` as in JobOptions.
JobOptions OneServer(std::string name, std::string training, int workers) {
  JobOptions job(std::move(name), std::move(training));
  job.servers = 1;
  job.workers = workers;
  return job;
}

std::string ElasticJob(const JobOptions& job) {
  return absl::StrReplaceAll(testing::FashionJob(job),
                             {{"cluster: {", "cluster: {elastic: true, "}});
}

// The job trained in this process, the servers' optimizer applied locally, on the workers'
// batches at every step as `segments` say. `slice_wise`: each worker's slice through its own
// model and their gradients averaged, as the sync servers do; else the union of the slices as
// one batch. The two are equal up to float rounding (the order of the sums), which training can
// amplify: a shrink at step 91 of the 2-worker job below differs from the whole-batch run by
// 0.0116 after 600 steps, in the servers' arithmetic as much as in psd, while other steps stay
// near 5e-7. psd is checked against the slice-wise run; the whole-batch one is printed.
std::vector<std::vector<float>> TrainInOneProcess(const JobSpec& spec,
                                                  const std::vector<PlanSegment>& segments,
                                                  bool slice_wise) {
  auto data = LoadIdxDataset(spec.data.train_images, spec.data.train_labels);
  REQUIRE(data.ok());
  auto backend = kernels::CreateBackend(kernels::DeviceKind::kCpu, 1);
  REQUIRE(backend.ok());
  size_t widest = 0;
  for (const PlanSegment& s : segments) widest = std::max(widest, s.ranks.size());
  const int b = spec.training.batch_size;
  const int rows = slice_wise ? b : b * static_cast<int>(widest);
  std::vector<std::unique_ptr<Model>> models;  // one per slice, or one for the union
  for (size_t m = 0; m < (slice_wise ? widest : 1); ++m) {
    auto model = Model::Create(spec.model, backend->get(), rows);
    REQUIRE(model.ok());
    models.push_back(*std::move(model));
  }
  BatchPlan plan(data->count, b, spec.cluster.workers, spec.seed);
  REQUIRE(plan.SetMembership(segments).ok());
  const int64_t total = PlannedSteps(spec, data->count, spec.cluster.workers);
  LocalExchange exchange(spec, models[0]->tensors(), total);
  std::vector<std::vector<float>> params;
  for (const TensorInfo& t : models[0]->tensors()) params.emplace_back(t.size);
  for (uint32_t t = 0; t < params.size(); ++t) exchange.Pull(t, 0, absl::MakeSpan(params[t]));
  std::vector<float> x(static_cast<size_t>(rows) * data->dim);
  std::vector<int32_t> y(rows);
  for (int64_t step = 0; step < total; ++step) {
    const std::vector<int>& ranks = plan.SegmentAt(step).ranks;
    std::vector<std::vector<int64_t>> slices;
    for (int r : ranks) {
      absl::Span<const int64_t> slice = plan.Batch(step, r);
      if (slice_wise || slices.empty()) slices.emplace_back();
      slices.back().insert(slices.back().end(), slice.begin(), slice.end());
    }
    std::vector<std::vector<float>> mean;
    for (const TensorInfo& t : models[0]->tensors()) mean.emplace_back(t.size, 0.0f);
    for (size_t m = 0; m < slices.size(); ++m) {
      Model& model = *models[m];
      for (uint32_t t = 0; t < params.size(); ++t) REQUIRE(model.SetParam(t, params[t]).ok());
      const size_t n = slices[m].size();
      FillBatch(*data, slices[m], spec.data.normalize, x.data(), y.data());
      REQUIRE(model
                  .TrainStep(absl::MakeConstSpan(x.data(), n * data->dim),
                             absl::MakeConstSpan(y.data(), n), nullptr)
                  .ok());
      for (uint32_t t = 0; t < params.size(); ++t) {
        absl::Span<const float> g = model.HostGrad(t);
        for (size_t i = 0; i < g.size(); ++i) mean[t][i] += g[i];
      }
    }
    for (uint32_t t = 0; t < params.size(); ++t) {
      if (slices.size() > 1) {
        const float inv = 1.0f / static_cast<float>(slices.size());
        for (float& v : mean[t]) v *= inv;
      }
      exchange.PushPull(t, step, mean[t], absl::MakeSpan(params[t]));
    }
  }
  return params;
}

// Every "... at step N: workers [...]" event of the job, oldest first.
std::vector<PlanSegment> Changes(const LocalCluster& cluster, const std::string& job) {
  const testing::CommandResult r = cluster.Psdctl({"status", job});
  INFO(r.out << r.err);
  std::vector<PlanSegment> changes;
  const std::regex change(R"(at step (\d+): workers \[([0-9, ]*)\])");
  for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), change);
       it != std::sregex_iterator(); ++it) {
    PlanSegment& found = changes.emplace_back();
    found.from_step = std::stoll((*it)[1]);
    const std::string list = (*it)[2];
    const std::regex number(R"(\d+)");
    for (auto n = std::sregex_iterator(list.begin(), list.end(), number);
         n != std::sregex_iterator(); ++n) {
      found.ranks.push_back(std::stoi(n->str()));
    }
  }
  return changes;
}

// The step of the job's last change, and its workers.
PlanSegment LastChange(const LocalCluster& cluster, const std::string& job) {
  const std::vector<PlanSegment> changes = Changes(cluster, job);
  REQUIRE(!changes.empty());
  REQUIRE(changes.back().from_step > 0);
  return changes.back();
}

// Submits the elastic job, scales it to `to` workers once it passed step 20, waits for the
// end, and checks the exported model against the one-process run with the same membership.
void CheckScaledSyncEqualsOneProcess(const LocalCluster& cluster, JobOptions job, int to) {
  const std::string dir = cluster.run_dir() + "/models";
  job.checkpoint = absl::StrCat("{dir: ", dir, "}");
  const std::string yaml = ElasticJob(job);
  const std::string id = testing::SubmitJob(cluster, job.name, yaml);
  REQUIRE(testing::WaitForStep(cluster, id, 20, absl::Minutes(2)));
  const testing::CommandResult scaled =
      cluster.Psdctl({"scale", id, "--workers", std::to_string(to)});
  INFO(scaled.out << scaled.err);
  REQUIRE(scaled.exit_code == 0);
  const testing::CommandResult wait = cluster.Psdctl({"wait", id}, absl::Minutes(4));
  INFO(wait.out << wait.err << "\nworker-0 log:\n" << cluster.Log("worker-0"));
  REQUIRE(wait.exit_code == 0);
  const PlanSegment change = LastChange(cluster, id);
  CHECK(change.ranks.size() == static_cast<size_t>(to));
  std::vector<PlanSegment> segments = {{0, {}}, change};
  for (int r = 0; r < job.workers; ++r) segments[0].ranks.push_back(r);
  auto spec = ParseJobSpec(yaml, job.name);
  REQUIRE(spec.ok());
  auto model = ReadModelFile(dir + "/" + id + "/model.psdm");
  REQUIRE(model.ok());
  INFO("coordinator log:\n"
       << cluster.Log("coordinator") << "\nworker-1 log:\n"
       << cluster.Log("worker-1") << "\nserver-0 log:\n"
       << cluster.Log("server-0"));
  const double diff = testing::MaxAbsDiff(*model, TrainInOneProcess(*spec, segments, true));
  const double whole = testing::MaxAbsDiff(*model, TrainInOneProcess(*spec, segments, false));
  std::printf(
      "%s: %d -> %d workers at step %lld: max |servers - one process| = %.3g (slice-wise), "
      "%.3g (whole batch)\n",
      job.name.c_str(), job.workers, to, static_cast<long long>(change.from_step), diff, whole);
  CHECK(diff <= 1e-4);
}

// 1 and 2 workers: with 3, the whole-batch run's 1/96 and the servers' 1/3 of 1/32 round
// differently too (4e-4 after 60 steps, 0.02 after 600, with no worker added or removed).
TEST_CASE("sync grown and shrunk by psdctl scale equals one process whose batch changes then",
          "[elastic][e2e]") {
  auto cluster = LocalCluster::Start(1, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  constexpr char kSync[] = "max_steps: 600\nlog_every: 10\nconsistency: sync\n";
  CheckScaledSyncEqualsOneProcess(
      **cluster,
      OneServer(
          "elastic-grow",
          absl::StrCat(kSync, "optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}"),
          1),
      2);
  CheckScaledSyncEqualsOneProcess(
      **cluster,
      OneServer("elastic-shrink", absl::StrCat(kSync, "optimizer: {type: sgd, learning_rate: 0.1}"),
                2),
      1);
}

// The pid in cluster.sh's pid file of daemon `name` (e.g. "server-0").
pid_t DaemonPid(const LocalCluster& cluster, const std::string& name) {
  std::ifstream in(cluster.run_dir() + "/pids/" + name + ".pid");
  long pid = -1;
  in >> pid;
  return static_cast<pid_t>(pid);
}

// A daemon held with SIGSTOP until Continue() or the end of the scope (SIGCONT).
class Stopped {
 public:
  explicit Stopped(pid_t pid) : pid_(pid) { REQUIRE((pid_ > 0 && kill(pid_, SIGSTOP) == 0)); }
  Stopped(const Stopped&) = delete;
  Stopped& operator=(const Stopped&) = delete;
  ~Stopped() { Continue(); }
  void Continue() {
    if (pid_ > 0) kill(pid_, SIGCONT);
    pid_ = -1;
  }

 private:
  pid_t pid_;
};

// Scales the elastic sync job from 1 to 2 workers once it passed step 20, kills the
// coordinator (SIGKILL) as soon as psdctl scale has answered, restarts it on the same state
// dir, and checks that the job finishes once, with the change in its events, equal to one
// process whose batch changes at the change's step (read from the events). `server_held`: the
// server is stopped (SIGSTOP) from before the request until the coordinator is dead, so the
// old coordinator cannot have seen the change applied nor started the joiner; else the kill
// races the change (the server told, the joiner started or not).
void CheckScaleThroughCoordinatorRestart(const LocalCluster& cluster, JobOptions job,
                                         bool server_held) {
  const std::string dir = cluster.run_dir() + "/models";
  job.checkpoint = absl::StrCat("{dir: ", dir, "}");
  const std::string yaml = ElasticJob(job);
  const std::string id = testing::SubmitJob(cluster, job.name, yaml);
  REQUIRE(testing::WaitForStep(cluster, id, 20, absl::Minutes(2)));
  {
    std::optional<Stopped> server;
    if (server_held) server.emplace(DaemonPid(cluster, "server-0"));
    const testing::CommandResult scaled = cluster.Psdctl({"scale", id, "--workers", "2"});
    INFO(scaled.out << scaled.err);
    REQUIRE(scaled.exit_code == 0);
    REQUIRE(cluster.Script({"kill", "coordinator"}).exit_code == 0);
  }
  REQUIRE(cluster.Script({"restart", "coordinator"}).exit_code == 0);
  const testing::CommandResult wait = cluster.Psdctl({"wait", id}, absl::Minutes(4));
  INFO(wait.out << wait.err << "\ncoordinator log:\n"
                << cluster.Log("coordinator") << "\nworker-0 log:\n"
                << cluster.Log("worker-0") << "\nworker-1 log:\n"
                << cluster.Log("worker-1") << "\nserver-0 log:\n"
                << cluster.Log("server-0"));
  REQUIRE(wait.exit_code == 0);

  const std::string list = cluster.Psdctl({"list"}).out;
  INFO(list);
  size_t listed = 0;
  for (size_t at = list.find(id + " "); at != std::string::npos; at = list.find(id + " ", at + 1)) {
    ++listed;
  }
  CHECK(listed == 1);
  const std::string status = cluster.Psdctl({"status", id}).out;
  INFO(status);
  CHECK(status.find("scale to 2 workers requested (1 now)") != std::string::npos);
  const std::vector<PlanSegment> changes = Changes(cluster, id);
  REQUIRE(changes.size() == 1);  // one change, applied once, whatever the restart interrupted
  const PlanSegment& change = changes[0];
  CHECK(change.ranks == std::vector<int>{0, 1});
  const std::string joined = absl::StrCat("workers [1] join at step ", change.from_step);
  const size_t join = status.find(joined);
  CHECK(join != std::string::npos);
  CHECK(status.find(joined, join + 1) == std::string::npos);

  auto spec = ParseJobSpec(yaml, job.name);
  REQUIRE(spec.ok());
  auto model = ReadModelFile(dir + "/" + id + "/model.psdm");
  REQUIRE(model.ok());
  const double diff =
      testing::MaxAbsDiff(*model, TrainInOneProcess(*spec, {{0, {0}}, change}, true));
  // Where the kill landed, as the restarted coordinator saw the joiner.
  const std::string log = cluster.Log("coordinator");
  const char* joiner = log.find("joins job " + id) != std::string::npos ? "not started yet"
                       : log.find("resumes job " + id + " as worker 1") != std::string::npos
                           ? "running already"
                           : "?";
  std::printf(
      "%s: scaled 1 -> 2 workers, coordinator SIGKILLed right after the request%s and restarted "
      "(joiner %s); change at step %lld: max |servers - one process| = %.3g\n",
      job.name.c_str(), server_held ? " (server held)" : "", joiner,
      static_cast<long long>(change.from_step), diff);
  CHECK(diff <= 1e-4);
}

TEST_CASE("the coordinator killed after psdctl scale and restarted: sync equals one process",
          "[elastic][recovery][e2e]") {
  // A heartbeat timeout well past the time the server is held.
  auto cluster = LocalCluster::Start(1, 2, {"--heartbeat-timeout-ms", "10000"});
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  constexpr char kSync[] =
      "max_steps: 600\nlog_every: 10\nconsistency: sync\n"
      "optimizer: {type: momentum, learning_rate: 0.05, momentum: 0.9}";
  // Before the change is applied: the server cannot have heard of it.
  CheckScaleThroughCoordinatorRestart(**cluster, OneServer("restart-before-applied", kSync, 1),
                                      true);
  // Racing it: the server told, the joiner started or not, when the coordinator dies.
  CheckScaleThroughCoordinatorRestart(**cluster, OneServer("restart-racing", kSync, 1), false);
}

TEST_CASE("async takes a worker mid-job and still converges; a fixed job refuses scale",
          "[elastic][e2e]") {
  auto cluster = LocalCluster::Start(1, 2);
  INFO(cluster.status());
  REQUIRE(cluster.ok());
  const JobOptions job = OneServer("elastic-async",
                                   "max_steps: 300\nlog_every: 10\nconsistency: async\n"
                                   "optimizer: {type: sgd, learning_rate: 0.1}",
                                   1);
  const std::string id = testing::SubmitJob(**cluster, job.name, ElasticJob(job));
  REQUIRE(testing::WaitForStep(**cluster, id, 20, absl::Minutes(2)));
  REQUIRE((*cluster)->Psdctl({"scale", id, "--workers", "2"}).exit_code == 0);
  const testing::CommandResult wait = (*cluster)->Psdctl({"wait", id}, absl::Minutes(4));
  INFO(wait.out << wait.err);
  REQUIRE(wait.exit_code == 0);
  CHECK(testing::TestAccuracy(wait.out) > 0.7);
  const testing::CommandResult status = (*cluster)->Psdctl({"status", id});
  CHECK(status.out.find("workers [1] join at step") != std::string::npos);

  const JobOptions fixed = OneServer("fixed", "max_steps: 400\nlog_every: 10", 1);
  const std::string other = testing::SubmitJob(**cluster, fixed.name, testing::FashionJob(fixed));
  REQUIRE(testing::WaitForStep(**cluster, other, 10, absl::Minutes(2)));
  const testing::CommandResult refused = (*cluster)->Psdctl({"scale", other, "--workers", "2"});
  CHECK(refused.exit_code != 0);
  CHECK(refused.err.find("without cluster.elastic: true") != std::string::npos);
  (*cluster)->Psdctl({"cancel", other});
}

}  // namespace
}  // namespace psd
