// Calls from the coordinator to a job's parameter servers (psd.ParameterServer).
#ifndef PSD_COORDINATOR_SERVER_CALLS_H_
#define PSD_COORDINATOR_SERVER_CALLS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock_offset.h"
#include "common/tls_options.h"
#include "proto/parameter_server.pb.h"

namespace psd {

// Sends `request` to the server at every address (indexed by rank) at once, each call with
// `timeout`, over `tls` (the coordinator's certificate). OK when every server accepted it; else the
// error of the lowest rank that did not, naming that server ("server 1 at host:port: ..."). A
// server that cannot be reached gives kAborted (kUnavailable would read as "the coordinator is
// unreachable" to psdctl).
absl::Status RequestCheckpoint(const std::vector<std::string>& addresses,
                               const CheckpointRequest& request, absl::Duration timeout,
                               const TlsOptions& tls);

// One psd.ParameterServer/Trace call to the server of `rank` at `address` (psdctl trace);
// `sample` gets the round trip's times and the server's clock. Errors name the server.
absl::StatusOr<TraceResponse> CallTrace(int rank, const std::string& address,
                                        const TraceRequest& request, absl::Duration timeout,
                                        const TlsOptions& tls, ClockSample* sample);

// GetStats of job `request.job_id` from the server at every address (indexed by rank) at once;
// one result per server, an error naming the server where it did not answer.
std::vector<absl::StatusOr<ServerStats>> CollectStats(const std::vector<std::string>& addresses,
                                                      const GetStatsRequest& request,
                                                      absl::Duration timeout,
                                                      const TlsOptions& tls);

}  // namespace psd

#endif  // PSD_COORDINATOR_SERVER_CALLS_H_
