// UnboundResolver: DNS through libunbound, asynchronous inside Asio. libunbound resolves on
// one background thread of its own (ub_ctx_async); its results are collected on this
// resolver's executor when ub_fd() turns readable, so no Asio thread ever blocks and no
// thread is started per query. Every query has a deadline (kDnsTemporary when it passes).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dns/resolver.h"

struct ub_ctx;
struct ub_result;

namespace txmail::dns {

struct UnboundOptions {
  std::vector<std::string> servers;  // "IP:PORT"; empty: the system resolver (resolv.conf)
  std::chrono::milliseconds timeout = std::chrono::seconds(15);
};

class UnboundResolver final : public Resolver {
 public:
  // `executor` is where libunbound's results are processed (any io_context thread).
  static Result<std::unique_ptr<UnboundResolver>> create(asio::any_io_executor executor,
                                                         const UnboundOptions& options);
  ~UnboundResolver() override;
  UnboundResolver(const UnboundResolver&) = delete;
  UnboundResolver& operator=(const UnboundResolver&) = delete;
  UnboundResolver(UnboundResolver&&) = delete;
  UnboundResolver& operator=(UnboundResolver&&) = delete;

  awaitable<Result<Answer>> query(std::string name, RecordType type) override;
  // Stops processing results; pending queries complete with kDnsTemporary.
  void shutdown();

 private:
  struct Pending;

  UnboundResolver(asio::any_io_executor executor, ub_ctx* ctx, UnboundOptions options);
  void start(const std::shared_ptr<Pending>& p);
  void complete(std::uint64_t id, Result<Answer> result);
  static void on_result(void* data, int err, ub_result* result);
  static awaitable<void> pump(UnboundResolver* self);

  asio::any_io_executor executor_;
  ub_ctx* ctx_;
  UnboundOptions options_;
  asio::posix::stream_descriptor fd_;
  std::unordered_map<std::uint64_t, std::shared_ptr<Pending>> pending_;
  std::uint64_t next_id_ = 1;
  bool stopped_ = false;
};

}  // namespace txmail::dns
