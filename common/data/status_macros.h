// Status propagation macros. Abseil 20220623 (Debian 12) predates
// absl/status/status_macros.h, so catdog carries these two.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CATDOG_STATUS_CONCAT_INNER_(a, b) a##b
#define CATDOG_STATUS_CONCAT_(a, b) CATDOG_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define CATDOG_RETURN_IF_ERROR(expr)                \
  do {                                              \
    const ::absl::Status catdog_status_ = (expr);   \
    if (!catdog_status_.ok()) return catdog_status_; \
  } while (false)

// `lhs` = value of `rexpr` (an absl::StatusOr<T>), or returns its status.
#define CATDOG_ASSIGN_OR_RETURN(lhs, rexpr)                                      \
  CATDOG_ASSIGN_OR_RETURN_IMPL_(CATDOG_STATUS_CONCAT_(catdog_statusor_, __LINE__), \
                                lhs, rexpr)
#define CATDOG_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                  \
  if (!statusor.ok()) return std::move(statusor).status();  \
  lhs = std::move(statusor).value()
