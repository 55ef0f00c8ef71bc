// Result<T>: the return type of everything that can fail on input, network, disk, peers or
// config (STYLE.md "Errors"). Errors carry a code, classified once in error.cc, and a detail
// string meant for logs, never for peers.
#pragma once

#include <functional>
#include <string>
#include <tl/expected.hpp>
#include <type_traits>
#include <utility>

#include "common/error.h"

namespace txmail {

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string detail;
};

// A tl::expected<T, Error> that cannot be dropped: an alias cannot carry [[nodiscard]] and
// tl::expected is not marked, so this thin class adds only the attribute. It inherits every
// constructor (from T, from tl::unexpected<Error>, `return {};`) and converts from the plain
// tl::expected that map returns. A call whose failure really does not matter says so
// with `(void)` and a comment.
template <typename T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
 public:
  using Base = tl::expected<T, Error>;
  using Base::Base;
  Result() = default;

  // Implicit on purpose: a tl::expected (what make_error and tl's combinators return) is a
  // Result.
  Result(const Base& other) : Base(other) {}  // NOLINT(google-explicit-constructor)

  Result(Base&& other) : Base(std::move(other)) {}  // NOLINT(google-explicit-constructor)

  // tl's and_then accepts only a function returning a plain tl::expected; these take one
  // returning a Result (or a tl::expected) and give back what it returns.
  template <class F>
  auto and_then(F&& f) & {
    return chain(*this, std::forward<F>(f));
  }

  template <class F>
  auto and_then(F&& f) const& {
    return chain(*this, std::forward<F>(f));
  }

  template <class F>
  auto and_then(F&& f) && {
    return chain(std::move(*this), std::forward<F>(f));
  }

 private:
  template <class Self, class F>
  static auto chain(Self&& self, F&& f) {
    if constexpr (std::is_void_v<T>) {
      using R = std::remove_cvref_t<std::invoke_result_t<F>>;
      if (!self) {
        return R(tl::unexpect, std::forward<Self>(self).error());
      }
      return static_cast<R>(std::invoke(std::forward<F>(f)));
    } else {
      using R = std::remove_cvref_t<std::invoke_result_t<F, decltype(*std::forward<Self>(self))>>;
      if (!self) {
        return R(tl::unexpect, std::forward<Self>(self).error());
      }
      return static_cast<R>(std::invoke(std::forward<F>(f), *std::forward<Self>(self)));
    }
  }
};

inline tl::unexpected<Error> make_error(ErrorCode code, std::string detail) {
  return tl::unexpected<Error>(Error{code, std::move(detail)});
}

}  // namespace txmail
