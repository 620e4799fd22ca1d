#include "common/rpc_policy.h"

#include <grpcpp/server_context.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace psd {
namespace {

using R = PeerRole;

constexpr char kNodeOwn[] =
    "node_id is the one this certificate registered (a node reports only for itself)";

const std::vector<RpcRule>* MakePolicy() {
  return new std::vector<RpcRule>{
      {RpcMethod::kRegisterNode,
       "psd.Coordinator/RegisterNode",
       {R::kServer, R::kWorker},
       "node.role is the certificate's role; a node id registered by another certificate is "
       "refused"},
      {RpcMethod::kHeartbeat, "psd.Coordinator/Heartbeat", {R::kServer, R::kWorker}, kNodeOwn},
      {RpcMethod::kListNodes, "psd.Coordinator/ListNodes", {R::kAdmin, R::kViewer}, ""},
      {RpcMethod::kWatchAssignments,
       "psd.Coordinator/WatchAssignments",
       {R::kServer, R::kWorker},
       kNodeOwn},
      {RpcMethod::kSubmitJob, "psd.Coordinator/SubmitJob", {R::kAdmin}, ""},
      {RpcMethod::kGetJob, "psd.Coordinator/GetJob", {R::kAdmin, R::kViewer}, ""},
      {RpcMethod::kListJobs, "psd.Coordinator/ListJobs", {R::kAdmin, R::kViewer}, ""},
      {RpcMethod::kCancelJob, "psd.Coordinator/CancelJob", {R::kAdmin}, ""},
      {RpcMethod::kCheckpointJob,
       "psd.Coordinator/CheckpointJob",
       {R::kAdmin, R::kServer},
       "a server only for a job it serves (it asks before it shuts down)"},
      {RpcMethod::kScaleJob, "psd.Coordinator/ScaleJob", {R::kAdmin}, ""},
      {RpcMethod::kReportProgress,
       "psd.Coordinator/ReportProgress",
       {R::kWorker},
       "node_id is the caller's; it is the job's worker at worker_rank"},
      {RpcMethod::kReportTask,
       "psd.Coordinator/ReportTask",
       {R::kServer, R::kWorker},
       "node_id is the caller's; role is the certificate's; it is the job's member at rank"},
      {RpcMethod::kBarrier, "psd.Coordinator/Barrier", {R::kServer, R::kWorker}, kNodeOwn},
      // Tracing makes every member of the job record and upload: an admin's decision (the
      // trace names nodes and timings only, but it costs the job; viewers read status).
      {RpcMethod::kTraceJob, "psd.Coordinator/TraceJob", {R::kAdmin}, ""},
      {RpcMethod::kReportTrace,
       "psd.Coordinator/ReportTrace",
       {R::kWorker},
       "node_id is the caller's; it is the job's worker at worker_rank"},
      {RpcMethod::kInitJob, "psd.ParameterServer/InitJob", {R::kCoordinator}, ""},
      {RpcMethod::kPush,
       "psd.ParameterServer/Push",
       {R::kWorker},
       "the certificate is the one the coordinator assigned to the request's worker rank"},
      {RpcMethod::kPull,
       "psd.ParameterServer/Pull",
       {R::kWorker},
       "the certificate is the one the coordinator assigned to the request's worker rank"},
      {RpcMethod::kPushPull,
       "psd.ParameterServer/PushPull",
       {R::kWorker},
       "the certificate is the one the coordinator assigned to the request's worker rank"},
      {RpcMethod::kCheckpoint, "psd.ParameterServer/Checkpoint", {R::kCoordinator}, ""},
      {RpcMethod::kEndJob, "psd.ParameterServer/EndJob", {R::kCoordinator}, ""},
      {RpcMethod::kGetStats,
       "psd.ParameterServer/GetStats",
       {R::kCoordinator, R::kAdmin, R::kViewer},
       ""},
      {RpcMethod::kTrace, "psd.ParameterServer/Trace", {R::kCoordinator}, ""},
      {RpcMethod::kSparsePull,
       "psd.ParameterServer/SparsePull",
       {R::kWorker},
       "the certificate is the one the coordinator assigned to the request's worker rank"},
      {RpcMethod::kSparsePush,
       "psd.ParameterServer/SparsePush",
       {R::kWorker},
       "the certificate is the one the coordinator assigned to the request's worker rank"},
  };
}

std::string RoleList(const std::vector<PeerRole>& roles) {
  return absl::StrJoin(roles, " or ",
                       [](std::string* out, PeerRole r) { out->append(PeerRoleName(r)); });
}

}  // namespace

const std::vector<RpcRule>& RpcPolicy() {
  static const std::vector<RpcRule>* const policy = MakePolicy();
  return *policy;
}

const RpcRule& RuleFor(RpcMethod method) { return RpcPolicy()[static_cast<size_t>(method)]; }

bool Allowed(RpcMethod method, PeerRole role) {
  const std::vector<PeerRole>& allowed = RuleFor(method).allowed;
  return std::find(allowed.begin(), allowed.end(), role) != allowed.end();
}

absl::StatusOr<std::optional<PeerIdentity>> Authorizer::Check(
    const grpc::ServerContextBase& context, RpcMethod method) {
  if (!enforce_) return std::optional<PeerIdentity>();
  const RpcRule& rule = RuleFor(method);
  absl::StatusOr<PeerIdentity> peer = IdentityOf(context);
  if (!peer.ok()) {
    return Refuse(method, absl::UnauthenticatedError(absl::StrCat(
                              rule.name, ": refused: ", peer.status().message(),
                              "; it needs a certificate of role ", RoleList(rule.allowed))));
  }
  if (!Allowed(method, peer->role)) {
    return Refuse(method, absl::PermissionDeniedError(
                              absl::StrCat(rule.name, ": refused for ", Describe(*peer),
                                           ": it needs the role ", RoleList(rule.allowed))));
  }
  return std::optional<PeerIdentity>(*std::move(peer));
}

absl::Status Authorizer::Deny(RpcMethod method, const PeerIdentity& peer, const std::string& why) {
  return Refuse(method, absl::PermissionDeniedError(absl::StrCat(
                            RuleFor(method).name, ": refused for ", Describe(peer), ": ", why)));
}

absl::Status Authorizer::Refuse(RpcMethod method, absl::Status status) {
  denied_[static_cast<size_t>(method)].fetch_add(1, std::memory_order_relaxed);
  // A flood of refused calls must not flood the log: one line a second, with a count.
  int64_t skipped = -1;
  {
    absl::MutexLock lock(&log_mu_);
    const absl::Time now = absl::Now();
    if (now - last_log_ >= absl::Seconds(1)) {
      skipped = unlogged_;
      unlogged_ = 0;
      last_log_ = now;
    } else {
      ++unlogged_;
    }
  }
  if (skipped >= 0) {
    spdlog::warn("{}{}", std::string(status.message()),
                 skipped > 0 ? absl::StrCat(" (and ", skipped, " more refusals not logged)") : "");
  }
  return status;
}

std::map<std::string, int64_t> Authorizer::denials() const {
  std::map<std::string, int64_t> out;
  for (const RpcRule& rule : RpcPolicy()) {
    const int64_t n = denied_[static_cast<size_t>(rule.method)].load(std::memory_order_relaxed);
    if (n > 0) out[rule.name] = n;
  }
  return out;
}

}  // namespace psd
