// Who may call what: the one table of psd's RPCs and the roles allowed to call each
// (docs/security.md prints it), and the Authorizer every handler asks first.
//
//   auto peer = authz_.Check(*ctx, RpcMethod::kSubmitJob);
//   if (!peer.ok()) return ToGrpcStatus(peer.status());
//
// Checks that need the request (a worker pushes only for its own rank, a node reports only
// for itself) come after it is read, through Deny(), so that they are counted too.
#ifndef PSD_COMMON_RPC_POLICY_H_
#define PSD_COMMON_RPC_POLICY_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/peer_identity.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace psd {

enum class RpcMethod {
  // psd.Coordinator
  kRegisterNode,
  kHeartbeat,
  kListNodes,
  kWatchAssignments,
  kSubmitJob,
  kGetJob,
  kListJobs,
  kCancelJob,
  kCheckpointJob,
  kScaleJob,
  kReportProgress,
  kReportTask,
  kBarrier,
  kTraceJob,
  kReportTrace,
  // psd.ParameterServer
  kInitJob,
  kPush,
  kPull,
  kPushPull,
  kCheckpoint,
  kEndJob,
  kGetStats,
  kTrace,
  kSparsePull,
  kSparsePush,
  kCount,  // not a method
};

struct RpcRule {
  RpcMethod method;
  const char* name;  // "psd.Coordinator/SubmitJob"
  std::vector<PeerRole> allowed;
  const char* also;  // what the handler checks beyond the role ("" if nothing)
};

// Every method, in the order above.
const std::vector<RpcRule>& RpcPolicy();
const RpcRule& RuleFor(RpcMethod method);
bool Allowed(RpcMethod method, PeerRole role);

// Checks callers against RpcPolicy() and counts the calls it refuses. Thread-safe.
class Authorizer {
 public:
  // `enforce` false (--insecure): there are no identities, every call is let through and
  // Check returns nullopt.
  explicit Authorizer(bool enforce) : enforce_(enforce) {}

  bool enforcing() const { return enforce_; }

  // The caller's identity when it may call `method`; nullopt when not enforcing.
  // Unauthenticated (no or unusable certificate) or PermissionDenied (wrong role), naming
  // the method, the peer and the roles it needs.
  absl::StatusOr<std::optional<PeerIdentity>> Check(const grpc::ServerContextBase& context,
                                                    RpcMethod method);
  // A refusal found after reading the request (`why`: "worker rank 0 of job J is 'worker-0'");
  // counted like the others. PermissionDenied.
  absl::Status Deny(RpcMethod method, const PeerIdentity& peer, const std::string& why);

  // Refused calls since start, by method name ("psd.Coordinator/SubmitJob"); methods with
  // none are left out.
  std::map<std::string, int64_t> denials() const;

 private:
  absl::Status Refuse(RpcMethod method, absl::Status status);

  const bool enforce_;
  std::array<std::atomic<int64_t>, static_cast<size_t>(RpcMethod::kCount)> denied_{};
  mutable absl::Mutex log_mu_;
  absl::Time last_log_ ABSL_GUARDED_BY(log_mu_) = absl::InfinitePast();
  int64_t unlogged_ ABSL_GUARDED_BY(log_mu_) = 0;
};

}  // namespace psd

#endif  // PSD_COMMON_RPC_POLICY_H_
