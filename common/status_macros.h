// Early-return helpers for absl::Status and absl::StatusOr.
#ifndef PSD_COMMON_STATUS_MACROS_H_
#define PSD_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define PSD_STATUS_CONCAT_INNER(a, b) a##b
#define PSD_STATUS_CONCAT(a, b) PSD_STATUS_CONCAT_INNER(a, b)

// Returns the status of `expr` from the enclosing function if it is not OK.
#define PSD_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status psd_status_ = (expr);       \
    if (!psd_status_.ok()) return psd_status_; \
  } while (false)

// `PSD_ASSIGN_OR_RETURN(auto x, StatusOrExpr());` binds the value or returns the error.
#define PSD_ASSIGN_OR_RETURN(lhs, expr) \
  PSD_ASSIGN_OR_RETURN_IMPL(PSD_STATUS_CONCAT(psd_statusor_, __LINE__), lhs, expr)

#define PSD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#endif  // PSD_COMMON_STATUS_MACROS_H_
