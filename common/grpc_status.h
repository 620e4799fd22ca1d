// Conversions between absl::Status and grpc::Status (codes and messages kept).
#ifndef PSD_COMMON_GRPC_STATUS_H_
#define PSD_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace psd {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace psd

#endif  // PSD_COMMON_GRPC_STATUS_H_
