// The words logs, errors and psdctl use for the proto enums.
#ifndef PSD_PROTO_NAMES_H_
#define PSD_PROTO_NAMES_H_

#include "proto/coordinator.pb.h"

namespace psd {

// "server", "worker", or "node" for an unset role.
const char* RoleName(Role role);

// "queued", "running", "succeeded", "failed", "cancelled", or "unknown".
const char* JobStateName(JobState state);

}  // namespace psd

#endif  // PSD_PROTO_NAMES_H_
