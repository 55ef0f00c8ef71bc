// Result<T>: the return type of everything that can fail on input, network, disk, peers or
// config (STYLE.md "Errors"). Errors carry a code, classified once in error.cc, and a detail
// string meant for logs, never for peers.
#pragma once

#include <string>
#include <tl/expected.hpp>
#include <utility>

#include "common/error.h"

namespace txmail {

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string detail;
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string detail) {
  return tl::unexpected<Error>(Error{code, std::move(detail)});
}

}  // namespace txmail
