// The one place that includes Boost.Asio for txmail: short names, and the completion tokens
// every coroutine uses. Asio is compiled once (BOOST_ASIO_SEPARATE_COMPILATION, asio_impl.cc).
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <cstdint>
#include <exception>
#include <functional>

#include "common/clock.h"

namespace txmail {

namespace asio = boost::asio;
// Asio's own names, lower case as asio spells them.
using tcp = asio::ip::tcp;  // NOLINT(readability-identifier-naming)
template <typename T>
using awaitable = asio::awaitable<T>;  // NOLINT(readability-identifier-naming)

// A timer on txmail's one clock (common/clock.h): what schedulers wait with, so unit tests can
// move time.
using Timer = asio::basic_waitable_timer<Clock, ClockWaitTraits>;

// co_await op(net::use_tuple) never throws: errors come back as the tuple's error_code.
inline constexpr auto use_tuple =  // NOLINT(readability-identifier-naming): like use_awaitable
    asio::as_tuple(asio::use_awaitable);

// The completion token of every detached coroutine (instead of asio::detached, which rethrows
// into the io_context and so ends the process): an exception that escaped the coroutine is
// logged with `what` and counted; the coroutine's own resources (its socket) are gone with it.
struct LogFailure {
  const char* what;
  void operator()(const std::exception_ptr& e) const;
};

inline LogFailure log_failure(const char* what) {
  return LogFailure{what};
}

// An essential loop (an accept loop, the delivery scheduler, a reader): when an exception ends
// it, it is logged and counted like log_failure, and started again a second later, unless
// `stopping()` says the node is stopping (issue quality-1: never a silently dead worker). A
// loop that returns is not restarted. `make` makes a fresh coroutine each time.
void spawn_essential(const asio::any_io_executor& ex, const char* what,
                     std::function<awaitable<void>()> make,
                     std::function<bool()> stopping = nullptr);
// How many exceptions log_failure and run_guarded caught since the start.
std::uint64_t caught_failures();
// Runs `io` until it stops; an exception thrown out of a handler is logged and the loop goes
// on, so one failing request never ends the process.
void run_guarded(asio::io_context& io, const char* what);

// Awaits a callback-style operation that completes on some other thread: `start` receives the
// completion function, which may be called from any thread once; the coroutine resumes on its
// own executor with the value.
template <typename T, typename Start>
awaitable<T> await_callback(Start start) {
  return asio::async_initiate<decltype(asio::use_awaitable), void(T)>(
      [start = std::move(start)](auto handler) mutable {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start([shared](T value) {
          auto ex = asio::get_associated_executor(*shared);
          asio::post(ex,
                     [shared, value = std::move(value)]() mutable { (*shared)(std::move(value)); });
        });
      },
      asio::use_awaitable);
}

}  // namespace txmail
