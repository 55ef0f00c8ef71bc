#include "dns/unbound_resolver.h"

#include <unbound.h>

#include "dns/rdata.h"

namespace txmail::dns {

struct UnboundResolver::Pending {
  UnboundResolver* owner = nullptr;
  std::uint64_t id = 0;  // 0 once completed
  std::string name;
  RecordType type = RecordType::kA;
  int async_id = 0;
  bool started = false;
  std::function<void(Result<Answer>)> done;  // resumes the caller on its executor
  std::unique_ptr<asio::steady_timer> timer;
};

namespace {

tl::unexpected<Error> temporary(const std::string& what) {
  return make_error(ErrorCode::kDnsTemporary, what);
}

Result<Answer> convert(RecordType type, const std::string& name, int err, const ub_result* r) {
  if (err != 0) {
    return temporary(name + ": " + ub_strerror(err));
  }
  if (r->bogus != 0) {
    return temporary(
        name + ": DNSSEC validation failed: " + (r->why_bogus != nullptr ? r->why_bogus : "?"));
  }
  if (r->nxdomain != 0) {
    return make_error(ErrorCode::kNotFound, name + ": no such domain");
  }
  if (r->rcode != 0) {
    return temporary(name + ": server answered rcode " + std::to_string(r->rcode));
  }
  Answer a;
  a.ttl = std::chrono::seconds(std::max(r->ttl, 0));
  a.secure = r->secure != 0;
  for (int i = 0; r->havedata != 0 && r->data[i] != nullptr; ++i) {
    const std::string_view rdata(r->data[i], static_cast<std::size_t>(r->len[i]));
    switch (type) {
      case RecordType::kA:
        if (auto v = decode_a(rdata)) {
          a.values.push_back(*v);
        }
        break;
      case RecordType::kAaaa:
        if (auto v = decode_aaaa(rdata)) {
          a.values.push_back(*v);
        }
        break;
      case RecordType::kTxt:
        if (auto v = decode_txt(rdata)) {
          a.values.push_back(*v);
        }
        break;
      case RecordType::kMx:
        if (auto v = decode_mx(rdata)) {
          a.mx.push_back(*v);
        }
        break;
      case RecordType::kTlsa:
        if (auto v = decode_tlsa(rdata)) {
          a.tlsa.push_back(*v);
        }
        break;
    }
  }
  return a;
}

}  // namespace

Result<std::unique_ptr<UnboundResolver>> UnboundResolver::create(asio::any_io_executor executor,
                                                                 const UnboundOptions& options) {
  ub_ctx* ctx = ub_ctx_create();
  if (ctx == nullptr) {
    return make_error(ErrorCode::kInternal, "dns: cannot create a libunbound context");
  }
  auto fail = [ctx](const std::string& what, int err) {
    ub_ctx_delete(ctx);
    return make_error(ErrorCode::kConfig, what + ": " + ub_strerror(err));
  };
  int err = ub_ctx_async(ctx, 1);
  if (err != 0) {
    return fail("dns: async mode", err);
  }
  if (options.servers.empty()) {
    if ((err = ub_ctx_resolvconf(ctx, nullptr)) != 0) {
      return fail("dns: reading resolv.conf", err);
    }
    ub_ctx_hosts(ctx, nullptr);
  } else {
    for (const auto& server : options.servers) {
      // "IP:PORT" or "[IPv6]:PORT" → libunbound's "IP@PORT".
      std::string addr = server;
      const std::size_t colon = addr.rfind(':');
      if (colon != std::string::npos && addr.find(']') != std::string::npos) {
        addr = addr.substr(1, addr.find(']') - 1) + "@" + addr.substr(colon + 1);
      } else if (colon != std::string::npos) {
        addr[colon] = '@';
      }
      if ((err = ub_ctx_set_fwd(ctx, addr.c_str())) != 0) {
        return fail("dns.servers: '" + server + "'", err);
      }
    }
  }
  // "test." is a special-use local zone in unbound (RFC 6761); let it through to the
  // configured servers so test domains resolve. This finalizes the context: keep it last.
  if ((err = ub_ctx_zone_add(ctx, "test.", "transparent")) != 0) {
    return fail("dns: zone test.", err);
  }
  std::unique_ptr<UnboundResolver> r(new UnboundResolver(std::move(executor), ctx, options));
  spawn_essential(r->executor_, "the DNS resolver pump", [p = r.get()] { return pump(p); });
  return r;
}

UnboundResolver::UnboundResolver(asio::any_io_executor executor, ub_ctx* ctx,
                                 UnboundOptions options)
    : executor_(std::move(executor)),
      ctx_(ctx),
      options_(std::move(options)),
      fd_(executor_, ub_fd(ctx)) {}

UnboundResolver::~UnboundResolver() {
  fd_.release();  // the descriptor belongs to libunbound
  ub_ctx_delete(ctx_);
}

void UnboundResolver::shutdown() {
  asio::post(executor_, [this] {
    stopped_ = true;
    boost::system::error_code ignored;
    fd_.cancel(ignored);
    auto pending = std::move(pending_);
    for (auto& [id, p] : pending) {
      if (p->started) {
        ub_cancel(ctx_, p->async_id);
      }
      p->id = 0;
      if (p->timer) {
        p->timer->cancel();
      }
      p->done(temporary("dns: resolver stopped"));
    }
  });
}

awaitable<void> UnboundResolver::pump(UnboundResolver* self) {
  while (!self->stopped_) {
    auto [ec] = co_await self->fd_.async_wait(asio::posix::stream_descriptor::wait_read, use_tuple);
    if (ec || self->stopped_) {
      co_return;
    }
    ub_process(self->ctx_);
  }
}

// Called by libunbound from ub_process(), so on the resolver's executor.
void UnboundResolver::on_result(void* data, int err, ub_result* result) {
  auto* p = static_cast<Pending*>(data);
  Result<Answer> answer = convert(p->type, p->name, err, result);
  if (result != nullptr) {
    ub_resolve_free(result);
  }
  p->started = false;
  p->owner->complete(p->id, std::move(answer));
}

void UnboundResolver::start(const std::shared_ptr<Pending>& p) {
  if (stopped_) {
    p->done(temporary("dns: resolver stopped"));
    return;
  }
  p->id = next_id_++;
  pending_[p->id] = p;
  const int err = ub_resolve_async(ctx_, p->name.c_str(), static_cast<int>(p->type), 1 /* IN */,
                                   p.get(), &UnboundResolver::on_result, &p->async_id);
  if (err != 0) {
    complete(p->id, temporary(p->name + ": " + ub_strerror(err)));
    return;
  }
  p->started = true;
  p->timer = std::make_unique<asio::steady_timer>(executor_, options_.timeout);
  p->timer->async_wait(
      [this, weak = std::weak_ptr<Pending>(p)](const boost::system::error_code& ec) {
        auto q = weak.lock();
        if (ec || !q || q->id == 0) {
          return;
        }
        ub_cancel(ctx_, q->async_id);
        q->started = false;
        complete(q->id, temporary(q->name + ": timed out"));
      });
}

void UnboundResolver::complete(std::uint64_t id, Result<Answer> result) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) {
    return;
  }
  auto p = it->second;
  pending_.erase(it);
  p->id = 0;
  if (p->timer) {
    p->timer->cancel();
  }
  p->done(std::move(result));
}

awaitable<Result<Answer>> UnboundResolver::query(std::string name, RecordType type) {
  auto p = std::make_shared<Pending>();
  p->owner = this;
  p->name = normalize_name(name);
  p->type = type;
  // A named starter, not a temporary inside the co_await expression: g++ 12 destroys such
  // temporaries twice in coroutines.
  auto starter = [this, p](std::function<void(Result<Answer>)> done) {
    p->done = std::move(done);
    asio::post(executor_, [this, p] { start(p); });
  };
  Result<Answer> answer = co_await await_callback<Result<Answer>>(std::move(starter));
  co_return answer;
}

}  // namespace txmail::dns
