#include "coordinator/test_util.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/test_certs.h"

namespace psd::testing {

std::string JobYaml(const JobYamlOptions& o) {
  const std::string checkpoint = o.checkpoint_dir.empty()
                                     ? ""
                                     : absl::StrFormat("checkpoint:\n  dir: %s\n  keep: %d\n",
                                                       o.checkpoint_dir, o.checkpoint_keep);
  return absl::StrFormat(R"(name: %s
model:
  type: logreg
data:
  train_images: /nonexistent/train-images
  train_labels: /nonexistent/train-labels
  test_images: /nonexistent/test-images
  test_labels: /nonexistent/test-labels
training:
  epochs: 1
  on_worker_failure: %s
cluster:
  servers: %d
  workers: %d
  device: %s
%s)",
                         o.name, o.on_worker_failure, o.servers, o.workers, o.device, checkpoint);
}

CoordinatorOptions FastCoordinatorOptions() {
  CoordinatorOptions options;
  options.heartbeat_interval = absl::Milliseconds(100);
  options.heartbeat_timeout = absl::Milliseconds(1500);
  options.restart_grace = absl::Seconds(2);
  return options;
}

absl::StatusOr<std::unique_ptr<InProcessCoordinator>> InProcessCoordinator::Start(
    const std::string& state_dir, const CoordinatorOptions& given, int port) {
  CoordinatorOptions options = given;
  if (!options.tls.configured()) options.tls = TestTls("coordinator", PeerRole::kCoordinator);
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(options.tls);
  if (!credentials.ok()) return credentials.status();
  absl::StatusOr<std::unique_ptr<JobStore>> store =
      JobStore::Open(absl::StrCat(state_dir, "/coordinator.db"));
  if (!store.ok()) return store.status();
  std::unique_ptr<InProcessCoordinator> c(new InProcessCoordinator());
  absl::StatusOr<std::unique_ptr<JobManager>> manager =
      JobManager::Create(options, *std::move(store));
  if (!manager.ok()) return manager.status();
  c->manager_ = *std::move(manager);
  c->service_ = std::make_unique<CoordinatorService>(c->manager_.get(), !options.tls.insecure);
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), *credentials, &bound);
  builder.SetMaxReceiveMessageSize(MaxRequestBytes(options));
  builder.RegisterService(c->service_.get());
  c->server_ = builder.BuildAndStart();
  if (c->server_ == nullptr || bound == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on 127.0.0.1:", port));
  }
  c->port_ = bound;
  c->address_ = absl::StrCat("127.0.0.1:", bound);
  return c;
}

InProcessCoordinator::~InProcessCoordinator() {
  manager_->Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  server_->Wait();
}

JobState InProcessCoordinator::State(const std::string& job_id) { return Job(job_id).state(); }

JobInfo InProcessCoordinator::Job(const std::string& job_id) {
  absl::StatusOr<JobInfo> job = manager_->GetJob(job_id);
  return job.ok() ? *std::move(job) : JobInfo();
}

bool HasEvent(const JobInfo& job, const std::string& text) {
  return std::find(job.events().begin(), job.events().end(), text) != job.events().end();
}

bool InProcessCoordinator::WaitForState(const std::string& job_id, JobState state,
                                        absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (State(job_id) != state) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

FakeNode::FakeNode(std::string coordinator, Role role, int index, int preferred_rank,
                   std::vector<Device> devices)
    : coordinator_(std::move(coordinator)),
      tls_(TestTls(absl::StrCat(role == ROLE_SERVER ? "server-" : "worker-", index),
                   role == ROLE_SERVER ? PeerRole::kServer : PeerRole::kWorker)) {
  info_.set_role(role);
  info_.set_address(absl::StrCat("127.0.0.1:", (role == ROLE_SERVER ? 20000 : 30000) + index));
  info_.set_hostname("fake");
  info_.set_preferred_rank(preferred_rank);
  for (Device& d : devices) *info_.add_devices() = std::move(d);
}

FakeNode::~FakeNode() { Stop(); }

absl::Status FakeNode::Start(const std::string& node_id_file, absl::Duration timeout) {
  {
    absl::MutexLock lock(&mu_);
    received_.clear();
  }
  NodeAgentOptions options;
  options.coordinator = coordinator_;
  options.self = info_;
  options.node_id_file = node_id_file;
  options.tls = tls_;
  options.max_backoff = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<NodeAgent>> agent =
      NodeAgent::Start(options, [this](const Assignment& a) {
        absl::MutexLock lock(&mu_);
        received_.push_back(a);
      });
  if (!agent.ok()) return agent.status();
  agent_ = *std::move(agent);
  if (!agent_->WaitRegistered(timeout)) return absl::DeadlineExceededError("not registered");
  return absl::OkStatus();
}

void FakeNode::Stop() {
  if (agent_) agent_->Stop();
}

std::optional<Assignment> FakeNode::WaitFor(const std::function<bool(const Assignment&)>& match,
                                            absl::Duration timeout) {
  std::optional<Assignment> found;
  auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const Assignment& a : received_) {
      if (match(a)) {
        found = a;
        return true;
      }
    }
    return false;
  };
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
  return found;
}

std::optional<Assignment> FakeNode::WaitForRun(const std::string& job_id, absl::Duration timeout) {
  return WaitFor(
      [&](const Assignment& a) {
        return a.job_id() == job_id && a.action() == Assignment::ACTION_RUN;
      },
      timeout);
}

std::optional<Assignment> FakeNode::WaitForStop(const std::string& job_id, absl::Duration timeout) {
  return WaitFor(
      [&](const Assignment& a) {
        return a.job_id() == job_id && a.action() == Assignment::ACTION_STOP;
      },
      timeout);
}

std::vector<Assignment> FakeNode::received() const {
  absl::MutexLock lock(&mu_);
  return received_;
}

TaskReport FakeNode::Report(const Assignment& run, TaskReport::Kind kind) const {
  TaskReport report;
  report.set_job_id(run.job_id());
  report.set_role(run.role());
  report.set_rank(run.rank());
  report.set_generation(run.generation());
  report.set_kind(kind);
  return report;
}

absl::Status FakeNode::ReportReady(const Assignment& run) {
  return agent_->ReportTask(Report(run, TaskReport::KIND_READY), absl::Seconds(10));
}

absl::Status FakeNode::ReportSucceeded(const Assignment& run, const JobResult& result) {
  TaskReport report = Report(run, TaskReport::KIND_SUCCEEDED);
  *report.mutable_result() = result;
  return agent_->ReportTask(report, absl::Seconds(10));
}

absl::Status FakeNode::ReportFailed(const Assignment& run, const std::string& message) {
  TaskReport report = Report(run, TaskReport::KIND_FAILED);
  report.set_message(message);
  return agent_->ReportTask(report, absl::Seconds(10));
}

absl::Status FakeNode::ReportCheckpointed(const Assignment& run, int64_t step) {
  TaskReport report = Report(run, TaskReport::KIND_CHECKPOINTED);
  report.set_step(step);
  return agent_->ReportTask(report, absl::Seconds(10));
}

absl::Status FakeNode::ReportCheckpointUnusable(const Assignment& run, int64_t step,
                                                const std::string& message) {
  TaskReport report = Report(run, TaskReport::KIND_CHECKPOINT_UNUSABLE);
  report.set_step(step);
  report.set_message(message);
  return agent_->ReportTask(report, absl::Seconds(10));
}

absl::Status FakeNode::ReportLeaving(const Assignment& run) {
  return agent_->ReportTask(Report(run, TaskReport::KIND_LEAVING), absl::Seconds(10));
}

}  // namespace psd::testing
