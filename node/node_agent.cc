#include "node/node_agent.h"

#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/grpc_status.h"

namespace psd {
namespace {

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

bool Retryable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

absl::StatusOr<std::string> ReadNodeId(const std::string& path) {
  if (access(path.c_str(), F_OK) != 0) return std::string();
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) return absl::UnavailableError(absl::StrCat("node-id file ", path, ": cannot read"));
  return std::string(absl::StripAsciiWhitespace(text.str()));
}

absl::Status WriteNodeId(const std::string& path, const std::string& id) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << id << "\n";
    out.flush();
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write ", path));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<NodeAgent>> NodeAgent::Start(NodeAgentOptions options,
                                                            AssignmentHandler handler) {
  if (options.coordinator.empty()) return absl::InvalidArgumentError("coordinator: required");
  if (options.self.role() != ROLE_SERVER && options.self.role() != ROLE_WORKER) {
    return absl::InvalidArgumentError("self.role: must be ROLE_SERVER or ROLE_WORKER");
  }
  if (options.self.address().empty()) return absl::InvalidArgumentError("self.address: required");
  if (!options.tls.configured()) {
    return absl::InvalidArgumentError(
        "tls: not configured (a loaded TlsOptions, or TlsOptions::Insecure())");
  }
  if (!options.node_id_file.empty()) {
    absl::StatusOr<std::string> id = ReadNodeId(options.node_id_file);
    if (!id.ok()) return id.status();
    if (!id->empty()) options.self.set_node_id(*id);
  }
  std::unique_ptr<NodeAgent> agent(new NodeAgent(std::move(options), std::move(handler)));
  agent->control_ = std::thread([a = agent.get()] { a->ControlLoop(); });
  agent->watch_thread_ = std::thread([a = agent.get()] { a->WatchLoop(); });
  agent->dispatch_ = std::thread([a = agent.get()] { a->DispatchLoop(); });
  return agent;
}

NodeAgent::NodeAgent(NodeAgentOptions options, AssignmentHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {
  grpc::ChannelArguments args;
  // Reconnect quickly once a restarted coordinator listens again.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A connection of its own, also when several agents share a process (bench/scale's light
  // workers), as separate daemons have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Start() checked that the TLS options are usable.
  channel_ = *MakeChannel(options_.coordinator, PeerRole::kCoordinator, options_.tls, args);
  stub_ = Coordinator::NewStub(channel_);
  node_id_ = options_.self.node_id();
}

NodeAgent::~NodeAgent() { Stop(); }

void NodeAgent::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (grpc::ClientContext* call : calls_) call->TryCancel();
  }
  for (std::thread* t : {&control_, &watch_thread_, &dispatch_}) {
    if (t->joinable()) t->join();
  }
}

std::string NodeAgent::node_id() const {
  absl::MutexLock lock(&mu_);
  return node_id_;
}

bool NodeAgent::WaitRegistered(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&registered_), timeout);
}

void NodeAgent::SetCurrentJob(const std::string& job_id, int rank, int64_t generation) {
  absl::MutexLock lock(&mu_);
  job_id_ = job_id;
  rank_ = rank;
  generation_ = generation;
}

bool NodeAgent::Track(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  calls_.insert(context);
  return true;
}

void NodeAgent::Untrack(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  calls_.erase(context);
}

bool NodeAgent::Sleep(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

bool NodeAgent::Backoff(absl::Duration d, const grpc::Status& failure) {
  if (failure.error_code() != grpc::StatusCode::UNAVAILABLE) return Sleep(d);
  // Polls the channel while waiting: a reconnection is noticed at once, not at gRPC's next
  // background poll (seconds later).
  const absl::Time until = absl::Now() + d;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return false;
    }
    const absl::Time now = absl::Now();
    if (now >= until) return true;
    if (channel_->WaitForConnected(
            absl::ToChronoTime(std::min(until, now + absl::Milliseconds(100))))) {
      return true;
    }
  }
}

absl::Duration NodeAgent::NextBackoff(absl::Duration current) {
  thread_local absl::BitGen bitgen;
  const absl::Duration doubled = std::min(current * 2, options_.max_backoff);
  return doubled * absl::Uniform(bitgen, 0.8, 1.2);
}

void NodeAgent::LogFailure(const std::string& what, const grpc::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    auto it = last_logged_.find(what);
    if (it != last_logged_.end() && now - it->second < options_.log_interval) return;
    last_logged_[what] = now;
  }
  spdlog::warn("{} (coordinator {}): {}", what, options_.coordinator, status.error_message());
}

grpc::Status NodeAgent::Register() {
  RegisterNodeRequest request;
  {
    absl::MutexLock lock(&mu_);
    *request.mutable_node() = options_.self;
    request.mutable_node()->set_node_id(node_id_);
    request.mutable_node()->set_pid(getpid());
    request.set_job_id(job_id_);
    request.set_rank(rank_);
    request.set_generation(generation_);
  }
  grpc::ClientContext context;
  SetDeadline(context, options_.rpc_timeout);
  if (!Track(&context)) return grpc::Status(grpc::StatusCode::CANCELLED, "stopping");
  RegisterNodeResponse response;
  const grpc::Status status = stub_->RegisterNode(&context, request, &response);
  Untrack(&context);
  if (!status.ok()) {
    LogFailure("cannot register", status);
    return status;
  }
  if (!options_.node_id_file.empty() && response.node_id() != request.node().node_id()) {
    if (absl::Status s = WriteNodeId(options_.node_id_file, response.node_id()); !s.ok()) {
      spdlog::warn("node-id file: {}", std::string(s.message()));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    node_id_ = response.node_id();
    if (response.heartbeat_interval_ms() > 0) {
      heartbeat_interval_ = absl::Milliseconds(response.heartbeat_interval_ms());
    }
    registered_ = true;
    ++registrations_;
    last_logged_.clear();
  }
  spdlog::info("registered with coordinator {} as {}{}", options_.coordinator, response.node_id(),
               request.job_id().empty() ? ""
                                        : absl::StrCat(" (running job ", request.job_id(), " rank ",
                                                       request.rank(), ")"));
  return grpc::Status::OK;
}

grpc::Status NodeAgent::Heartbeat() {
  HeartbeatRequest request;
  {
    absl::MutexLock lock(&mu_);
    request.set_node_id(node_id_);
    request.set_job_id(job_id_);
    request.set_generation(generation_);
  }
  grpc::ClientContext context;
  SetDeadline(context, options_.rpc_timeout);
  if (!Track(&context)) return grpc::Status(grpc::StatusCode::CANCELLED, "stopping");
  HeartbeatResponse response;
  const grpc::Status status = stub_->Heartbeat(&context, request, &response);
  Untrack(&context);
  if (!status.ok()) {
    LogFailure("heartbeat failed", status);
    return status;
  }
  absl::MutexLock lock(&mu_);
  if (!response.known()) {
    spdlog::info("coordinator {} does not know node {}; registering again", options_.coordinator,
                 node_id_);
    registered_ = false;
    return grpc::Status::OK;
  }
  // A watch stream that lags several heartbeats behind is restarted.
  heartbeats_behind_ =
      response.assignment_version() > watched_version_ ? heartbeats_behind_ + 1 : 0;
  if (heartbeats_behind_ >= 3 && watch_ != nullptr) {
    spdlog::warn("assignment stream is behind (version {} < {}); reconnecting", watched_version_,
                 response.assignment_version());
    watch_->TryCancel();
    heartbeats_behind_ = 0;
  }
  return grpc::Status::OK;
}

void NodeAgent::ControlLoop() {
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    bool registered;
    absl::Duration interval;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      registered = registered_;
      interval = heartbeat_interval_;
    }
    if (!registered) {
      const grpc::Status status = Register();
      if (status.ok()) {
        backoff = options_.initial_backoff;
      } else {
        if (!Backoff(backoff, status)) return;
        backoff = NextBackoff(backoff);
      }
      continue;
    }
    if (const grpc::Status status = Heartbeat(); !status.ok()) {
      if (!Backoff(interval, status)) return;
      continue;
    }
    // Sleeps one interval, or less when the watch stream finds the node unknown.
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(
                             +[](NodeAgent* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->mu_) {
                               return a->stopping_ || !a->registered_;
                             },
                             this),
                         interval);
  }
}

void NodeAgent::WatchLoop() {
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    WatchAssignmentsRequest request;
    int64_t registration;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](NodeAgent* a)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->mu_) { return a->stopping_ || a->registered_; },
          this));
      if (stopping_) return;
      request.set_node_id(node_id_);
      registration = registrations_;
    }
    grpc::ClientContext context;
    if (!Track(&context)) return;
    {
      absl::MutexLock lock(&mu_);
      watch_ = &context;
    }
    std::unique_ptr<grpc::ClientReader<Assignment>> reader =
        stub_->WatchAssignments(&context, request);
    Assignment assignment;
    bool got_any = false;
    while (reader->Read(&assignment)) {
      got_any = true;
      {
        absl::MutexLock lock(&mu_);
        watched_version_ = assignment.version();
        heartbeats_behind_ = 0;
      }
      Enqueue(assignment);
    }
    const grpc::Status status = reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      watch_ = nullptr;
      calls_.erase(&context);
      if (stopping_) return;
      if (status.error_code() == grpc::StatusCode::NOT_FOUND && registered_ &&
          registrations_ == registration) {
        spdlog::info("coordinator {} does not know node {}; registering again",
                     options_.coordinator, node_id_);
        registered_ = false;
      }
    }
    if (status.error_code() != grpc::StatusCode::NOT_FOUND &&
        status.error_code() != grpc::StatusCode::CANCELLED) {
      LogFailure("assignment stream ended", status);
    }
    if (got_any) backoff = options_.initial_backoff;
    if (!Backoff(backoff, status)) return;
    backoff = NextBackoff(backoff);
  }
}

void NodeAgent::Enqueue(const Assignment& assignment) {
  Assignment content = assignment;
  content.clear_version();
  absl::MutexLock lock(&mu_);
  if (google::protobuf::util::MessageDifferencer::Equals(content, last_enqueued_)) return;
  last_enqueued_ = std::move(content);
  if (assignment.action() == Assignment::ACTION_RUN) {
    job_id_ = assignment.job_id();
    rank_ = assignment.rank();
    generation_ = assignment.generation();
  } else if (assignment.action() == Assignment::ACTION_STOP && assignment.job_id() == job_id_) {
    job_id_.clear();
    rank_ = -1;
    generation_ = 0;
  }
  queue_.push_back(assignment);
}

void NodeAgent::DispatchLoop() {
  while (true) {
    Assignment next;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](NodeAgent* a)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->mu_) { return a->stopping_ || !a->queue_.empty(); },
          this));
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    handler_(next);
  }
}

absl::StatusOr<bool> NodeAgent::ReportProgress(ProgressReport report) {
  absl::StatusOr<ReportProgressResponse> response = ReportProgressFully(std::move(report));
  if (!response.ok()) return response.status();
  return response->cancelled();
}

absl::StatusOr<ReportProgressResponse> NodeAgent::ReportProgressFully(ProgressReport report) {
  report.set_node_id(node_id());
  grpc::ClientContext context;
  SetDeadline(context, options_.rpc_timeout);
  if (!Track(&context)) return absl::CancelledError("node agent stopped");
  ReportProgressResponse response;
  const grpc::Status status = stub_->ReportProgress(&context, report, &response);
  Untrack(&context);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::Status NodeAgent::ReportTrace(TraceReport report) {
  report.set_node_id(node_id());
  grpc::ClientContext context;
  SetDeadline(context, options_.rpc_timeout);
  if (!Track(&context)) return absl::CancelledError("node agent stopped");
  ReportTraceResponse response;
  const grpc::Status status = stub_->ReportTrace(&context, report, &response);
  Untrack(&context);
  return FromGrpcStatus(status);
}

absl::Status NodeAgent::ReportTask(TaskReport report, absl::Duration deadline) {
  report.set_node_id(node_id());
  if (report.role() == ROLE_UNSPECIFIED) report.set_role(options_.self.role());
  const absl::Time give_up = absl::Now() + deadline;
  absl::Duration backoff = options_.initial_backoff;
  while (true) {
    grpc::ClientContext context;
    SetDeadline(context, std::min(options_.rpc_timeout, give_up - absl::Now()));
    if (!Track(&context)) return absl::CancelledError("node agent stopped");
    ReportTaskResponse response;
    const grpc::Status status = stub_->ReportTask(&context, report, &response);
    Untrack(&context);
    if (status.ok()) return absl::OkStatus();
    if (!Retryable(status)) return FromGrpcStatus(status);
    LogFailure("task report not delivered yet", status);
    if (absl::Now() + backoff >= give_up) {
      return absl::DeadlineExceededError(
          absl::StrCat("task report for job ", report.job_id(), " not delivered to coordinator ",
                       options_.coordinator, " within ", absl::FormatDuration(deadline), ": ",
                       status.error_message()));
    }
    if (!Sleep(backoff)) return absl::CancelledError("node agent stopped");
    backoff = NextBackoff(backoff);
  }
}

absl::StatusOr<int64_t> NodeAgent::RequestCheckpoint(const std::string& job_id) {
  CheckpointJobRequest request;
  request.set_job_id(job_id);
  grpc::ClientContext context;
  SetDeadline(context, 2 * options_.rpc_timeout);
  if (!Track(&context)) return absl::CancelledError("node agent stopped");
  CheckpointJobResponse response;
  const grpc::Status status = stub_->CheckpointJob(&context, request, &response);
  Untrack(&context);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.step();
}

absl::StatusOr<bool> NodeAgent::Barrier(const std::string& job_id, const std::string& name,
                                        absl::Duration timeout, Role role) {
  BarrierRequest request;
  request.set_role(role);
  request.set_job_id(job_id);
  request.set_name(name);
  request.set_node_id(node_id());
  request.set_timeout_ms(absl::ToInt64Milliseconds(timeout));
  grpc::ClientContext context;
  SetDeadline(context, timeout + options_.rpc_timeout);
  if (!Track(&context)) return absl::CancelledError("node agent stopped");
  BarrierResponse response;
  const grpc::Status status = stub_->Barrier(&context, request, &response);
  Untrack(&context);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.complete();
}

}  // namespace psd
