// IoPool: one io_context per thread, one thread per core (DESIGN.md section 7). Each session
// lives on one io_context for its whole life, so its state needs no locks; new connections
// are spread round-robin.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "net/asio.h"

namespace txmail::net {

class IoPool {
 public:
  explicit IoPool(std::size_t threads);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;
  IoPool(IoPool&&) = delete;
  IoPool& operator=(IoPool&&) = delete;

  void start();
  void stop();  // stops every context and joins the threads
  void join();
  asio::io_context& next();

  asio::io_context& at(std::size_t i) { return *contexts_[i]; }

  std::size_t size() const { return contexts_.size(); }

 private:
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace txmail::net
