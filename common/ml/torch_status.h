// The one place LibTorch exceptions become absl::Status. Functions that call
// LibTorch wrap the call in TorchCall(); nothing else in catdog catches
// c10::Error.
#pragma once

#include <exception>
#include <string_view>
#include <type_traits>

#include <c10/util/Exception.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace catdog::common {

// OutOfMemoryError -> RESOURCE_EXHAUSTED; other c10::Error -> INTERNAL unless
// `code` says otherwise. The message is "<context>: <what without backtrace>";
// the full what() (with backtrace) is logged at debug level.
absl::Status StatusFromTorchError(const c10::Error& error, std::string_view context,
                                  absl::StatusCode code = absl::StatusCode::kInternal);

namespace internal {
template <typename R>
struct TorchCallResult { using type = absl::StatusOr<R>; };
template <>
struct TorchCallResult<void> { using type = absl::Status; };
template <>
struct TorchCallResult<absl::Status> { using type = absl::Status; };
template <typename T>
struct TorchCallResult<absl::StatusOr<T>> { using type = absl::StatusOr<T>; };
}  // namespace internal

// Runs `fn`, converting any c10::Error or std::exception it throws. Returns
// absl::Status for functions returning void or Status, StatusOr<T> for
// functions returning T or StatusOr<T>.
template <typename Fn>
auto TorchCall(std::string_view context, Fn&& fn,
               absl::StatusCode code = absl::StatusCode::kInternal) {
  using R = std::invoke_result_t<Fn>;
  using Out = typename internal::TorchCallResult<R>::type;
  try {
    if constexpr (std::is_void_v<R>) {
      fn();
      return absl::OkStatus();
    } else {
      return Out(fn());
    }
  } catch (const c10::Error& e) {
    return Out(StatusFromTorchError(e, context, code));
  } catch (const std::exception& e) {
    return Out(absl::Status(code, std::string(context) + ": " + e.what()));
  }
}

}  // namespace catdog::common
