#include "proto/names.h"

namespace psd {

const char* RoleName(Role role) {
  switch (role) {
    case ROLE_SERVER:
      return "server";
    case ROLE_WORKER:
      return "worker";
    default:
      return "node";
  }
}

const char* JobStateName(JobState state) {
  switch (state) {
    case JOB_QUEUED:
      return "queued";
    case JOB_RUNNING:
      return "running";
    case JOB_SUCCEEDED:
      return "succeeded";
    case JOB_FAILED:
      return "failed";
    case JOB_CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

}  // namespace psd
