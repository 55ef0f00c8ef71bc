#include "net/io_pool.h"

#include <atomic>

#include "common/log.h"

namespace txmail {

namespace {
std::atomic<std::uint64_t> g_caught{0};

void log_caught(const char* what, const std::exception_ptr& e) {
  g_caught.fetch_add(1, std::memory_order_relaxed);
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    logger()->error("{} failed with an exception (caught; the node goes on): {}", what, x.what());
  } catch (...) {
    logger()->error("{} failed with an unknown exception (caught; the node goes on)", what);
  }
}
}  // namespace

void LogFailure::operator()(const std::exception_ptr& e) const {
  if (e) {
    log_caught(what, e);
  }
}

void spawn_essential(const asio::any_io_executor& ex, const char* what,
                     std::function<awaitable<void>()> make, std::function<bool()> stopping) {
  auto coroutine = make();
  asio::co_spawn(ex, std::move(coroutine),
                 [ex, what, make = std::move(make),
                  stopping = std::move(stopping)](const std::exception_ptr& e) mutable {
                   if (!e) {
                     return;
                   }
                   log_caught(what, e);
                   if (stopping && stopping()) {
                     return;
                   }
                   logger()->error("{} is started again in a second", what);
                   auto timer = std::make_shared<asio::steady_timer>(ex, std::chrono::seconds(1));
                   timer->async_wait(
                       [timer, ex, what, make = std::move(make),
                        stopping = std::move(stopping)](const boost::system::error_code&) mutable {
                         spawn_essential(ex, what, std::move(make), std::move(stopping));
                       });
                 });
}

std::uint64_t caught_failures() {
  return g_caught.load(std::memory_order_relaxed);
}

void run_guarded(asio::io_context& io, const char* what) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (...) {
      log_caught(what, std::current_exception());
    }
  }
}

}  // namespace txmail

namespace txmail::net {

IoPool::IoPool(std::size_t threads) {
  for (std::size_t i = 0; i < std::max<std::size_t>(threads, 1); ++i) {
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    guards_.push_back(asio::make_work_guard(*contexts_.back()));
  }
}

IoPool::~IoPool() {
  stop();
  join();
}

void IoPool::start() {
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get()] { run_guarded(*c, "an I/O handler"); });
  }
}

void IoPool::stop() {
  guards_.clear();
  for (auto& ctx : contexts_) {
    ctx->stop();
  }
}

void IoPool::join() {
  for (auto& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  threads_.clear();
}

asio::io_context& IoPool::next() {
  return *contexts_[next_.fetch_add(1) % contexts_.size()];
}

}  // namespace txmail::net
