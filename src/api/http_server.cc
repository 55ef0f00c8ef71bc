#include "api/http_server.h"

#include <array>
#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <map>
#include <mutex>
#include <type_traits>

#include "api/forwarded.h"
#include "common/ids.h"
#include "common/log.h"

namespace txmail::api {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Health checks are answered even when every connection slot is taken: a load balancer must
// still see the node alive (issue harden-1).
bool is_health_check(const http::request<http::string_body>& h) {
  const std::string_view target(h.target().data(), h.target().size());
  return h.method() == http::verb::get && (target == "/healthz" || target == "/readyz");
}

constexpr const char* kInternalError =
    R"({"type":"/problems/internal-error","title":"Internal Server Error","status":500,"detail":"the request failed; it is logged"})";
// The most a request whose token travels in its body may send (a console login, an
// unsubscribe): both take a few hundred bytes.
constexpr std::uint64_t kTokenBodyMax = 4096;
// A body larger than this (or chunked) is read only after the request's credentials passed.
constexpr std::uint64_t kUncheckedBodyMax = std::uint64_t{64} * 1024;
constexpr const char* kBodyTooLarge =
    R"({"type":"/problems/body-too-large","title":"Content Too Large","status":413,"detail":"the request body is over http.max_body"})";

}  // namespace

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  HttpOptions options;
  std::shared_ptr<asio::ssl::context> tls;
  net::IoPool& io;
  asio::thread_pool& workers;
  Handler handler;
  Precheck precheck;
  std::vector<std::pair<std::unique_ptr<tcp::acceptor>, bool>> acceptors;
  std::atomic<std::size_t> connections{0};
  std::unordered_map<std::string, std::size_t> per_ip;  // under mutex
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, std::function<void()>> closers;  // cancel an idle connection

  State(HttpOptions o, std::shared_ptr<asio::ssl::context> t, net::IoPool& i, asio::thread_pool& w,
        Handler h)
      : options(std::move(o)), tls(std::move(t)), io(i), workers(w), handler(std::move(h)) {}

  std::uint64_t track(std::function<void()> closer) {
    std::lock_guard lock(mutex);
    closers.emplace(++next_id, std::move(closer));
    return next_id;
  }

  void untrack(std::uint64_t id) {
    std::lock_guard lock(mutex);
    closers.erase(id);
  }

  // One address may hold at most max_connections_per_ip connections (issue harden-1: 1,100
  // partial requests from one address kept every other client out).
  bool trusted_proxy(const std::string& ip) const {
    return std::any_of(options.trusted_proxies.begin(), options.trusted_proxies.end(),
                       [&ip](const net::Cidr& c) { return c.contains(ip); });
  }

  // The request's header fields (names lower-cased), the client's address and the transport.
  template <typename Fields>
  void fill_head(Request& r, const Fields& fields, const std::string& peer, bool is_tls) const {
    for (const auto& f : fields) {
      std::string name(f.name_string());
      for (auto& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      r.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    std::string forwarded;  // every X-Forwarded-For line, in order: proxies append
    for (auto [it, end] = fields.equal_range("X-Forwarded-For"); it != end; ++it) {
      forwarded.append(forwarded.empty() ? "" : ",").append(it->value().data(), it->value().size());
    }
    r.remote_ip = forwarded_client(peer, forwarded, options.trusted_proxies);
    r.tls = is_tls;
  }

  bool acquire_ip(const std::string& ip) {
    if (trusted_proxy(ip)) {
      return true;
    }
    std::lock_guard lock(mutex);
    auto& n = per_ip[ip];
    if (n >= options.max_connections_per_ip) {
      if (n == 0) {
        per_ip.erase(ip);
      }
      return false;
    }
    ++n;
    return true;
  }

  void release_ip(const std::string& ip) {
    if (trusted_proxy(ip)) {
      return;
    }
    std::lock_guard lock(mutex);
    const auto it = per_ip.find(ip);
    if (it != per_ip.end() && --it->second == 0) {
      per_ip.erase(it);
    }
  }

  awaitable<void> accept_loop(tcp::acceptor& acceptor, bool use_tls);
  template <typename Stream>
  awaitable<void> serve(Stream& stream, beast::tcp_stream& lowest, std::string remote, bool is_tls);
  template <typename Stream>
  awaitable<bool> write_streamed(Stream& stream, beast::tcp_stream& lowest, Response& res,
                                 bool keep_alive);
  awaitable<void> plain_session(tcp::socket socket);
  awaitable<void> tls_session(tcp::socket socket);
};

HttpServer::HttpServer(HttpOptions options, std::shared_ptr<asio::ssl::context> tls,
                       net::IoPool& io, asio::thread_pool& workers, Handler handler)
    : state_(std::make_shared<State>(std::move(options), std::move(tls), io, workers,
                                     std::move(handler))) {}

HttpServer::~HttpServer() = default;

Result<void> HttpServer::bind() {
  for (const auto& l : state_->options.listeners) {
    const std::size_t colon = l.address.rfind(':');
    std::string host = l.address.substr(0, colon);
    if (host.size() > 1 && host.front() == '[') {
      host = host.substr(1, host.size() - 2);
    }
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(host, ec);
    if (ec) {
      return make_error(ErrorCode::kConfig, "http: bad address '" + l.address + "'");
    }
    const auto port = static_cast<std::uint16_t>(std::stoi(l.address.substr(colon + 1)));
    if (l.tls && !state_->tls) {
      return make_error(ErrorCode::kConfig, "http.listen_tls: HTTPS needs [tls] cert and key");
    }
    auto acceptor = std::make_unique<tcp::acceptor>(state_->io.next());
    const tcp::endpoint ep(ip, port);
    acceptor->open(ep.protocol(), ec);
    if (!ec) {
      acceptor->set_option(asio::socket_base::reuse_address(true), ec);
      acceptor->bind(ep, ec);
    }
    if (!ec) {
      acceptor->listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
      return make_error(ErrorCode::kConfig,
                        "http: cannot listen on " + l.address + ": " + ec.message());
    }
    state_->acceptors.emplace_back(std::move(acceptor), l.tls);
  }
  return {};
}

std::vector<std::pair<tcp::endpoint, bool>> HttpServer::endpoints() const {
  std::vector<std::pair<tcp::endpoint, bool>> out;
  for (const auto& [a, is_tls] : state_->acceptors) {
    out.emplace_back(a->local_endpoint(), is_tls);
  }
  return out;
}

void HttpServer::set_precheck(Precheck precheck) {
  state_->precheck = std::move(precheck);
}

void HttpServer::start() {
  for (auto& [a, is_tls] : state_->acceptors) {
    spawn_essential(a->get_executor(), "the HTTP accept loop",
                    [state = state_, acceptor = a.get(), tls = is_tls] {
                      return state->accept_loop(*acceptor, tls);
                    });
  }
}

void HttpServer::stop() {
  state_->stopping = true;
  for (auto& [a, is_tls] : state_->acceptors) {
    asio::post(a->get_executor(), [acc = a.get()] {
      boost::system::error_code ec;
      acc->close(ec);
    });
  }
  std::lock_guard lock(state_->mutex);
  for (auto& [id, close] : state_->closers) {
    close();
  }
}

awaitable<void> HttpServer::State::accept_loop(tcp::acceptor& acceptor, bool use_tls) {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(io.next(), use_tuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping) {
        co_return;
      }
      logger()->warn("http accept: {}", ec.message());
      continue;
    }
    auto ex = socket.get_executor();
    if (use_tls) {
      asio::co_spawn(ex, tls_session(std::move(socket)), log_failure("an HTTPS connection"));
    } else {
      asio::co_spawn(ex, plain_session(std::move(socket)), log_failure("an HTTP connection"));
    }
  }
}

awaitable<void> HttpServer::State::plain_session(tcp::socket socket) {
  auto self = shared_from_this();
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) {
    co_return;
  }
  beast::tcp_stream stream(std::move(socket));
  co_await serve(stream, stream, remote.address().to_string(), false);
}

awaitable<void> HttpServer::State::tls_session(tcp::socket socket) {
  auto self = shared_from_this();
  boost::system::error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) {
    co_return;
  }
  beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
  beast::get_lowest_layer(stream).expires_after(options.idle_timeout);
  auto [hs] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
  if (hs) {
    co_return;
  }
  co_await serve(stream, beast::get_lowest_layer(stream), remote.address().to_string(), true);
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(5));
  co_await stream.async_shutdown(use_tuple);
}

template <typename Stream>
// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
awaitable<void> HttpServer::State::serve(Stream& stream, beast::tcp_stream& lowest,
                                         std::string remote, bool is_tls) {
  auto ex = co_await asio::this_coro::executor;
  // stop() cancels an idle connection on its own executor, while the session still lives.
  auto alive = std::make_shared<bool>(true);
  if (!acquire_ip(remote)) {
    // Answered at once, without reading the request: the client learns why.
    lowest.expires_after(std::chrono::seconds(5));
    static const std::string kBody =
        R"({"type":"/problems/too-many-connections","title":"Service Unavailable","status":503,"detail":"too many connections from your address"})";
    static const std::string kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\n"
        "Retry-After: 5\r\nConnection: close\r\nContent-Length: "
        + std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
    co_await asio::async_write(stream, asio::buffer(kBusy), use_tuple);
    co_return;
  }
  const std::uint64_t id = track([ex, alive, &lowest] {
    asio::post(ex, [alive, &lowest] {
      if (*alive) {
        lowest.cancel();
      }
    });
  });
  const bool over_limit = connections.fetch_add(1) >= options.max_connections;

  // Given back however the loop ends, an exception included: the counts, the address's share
  // and the closer (which refers to this stream).
  struct Release {
    State* state = nullptr;
    std::shared_ptr<bool> alive;
    std::string remote;
    std::uint64_t id = 0;

    Release(State* s, std::shared_ptr<bool> a, std::string r, std::uint64_t i)
        : state(s), alive(std::move(a)), remote(std::move(r)), id(i) {}

    ~Release() {
      *alive = false;
      state->connections.fetch_sub(1);
      state->release_ip(remote);
      state->untrack(id);
    }

    Release(const Release&) = delete;
    Release& operator=(const Release&) = delete;
    Release(Release&&) = delete;
    Release& operator=(Release&&) = delete;
  } release{this, alive, remote, id};

  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    if (stopping) {
      break;
    }
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(options.max_body_bytes);
    if (!first && buffer.size() == 0) {
      // Between requests a kept-alive connection may idle; its next request's header then has
      // header_timeout like the first's.
      lowest.expires_after(options.idle_timeout);
      auto [wec, wn] = co_await stream.async_read_some(buffer.prepare(4096), use_tuple);
      if (wec) {
        break;
      }
      buffer.commit(wn);
    }
    // The whole header within header_timeout, however slowly it trickles in.
    lowest.expires_after(options.header_timeout);
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    Response res;
    bool close = false;
    Request req;
    if (hec) {
      if (hec == http::error::end_of_stream || hec == asio::error::operation_aborted
          || hec == beast::error::timeout || hec == asio::error::eof
          || hec == asio::error::connection_reset || (!first && buffer.size() == 0)) {
        break;
      }
      if (hec == http::error::body_limit) {  // a Content-Length over the limit
        res = Response{413, "application/problem+json", kBodyTooLarge, {}};
      } else if (hec == http::error::header_limit) {
        res = Response{
            431,
            "application/problem+json",
            R"({"type":"/problems/header-too-large","title":"Request Header Fields Too Large","status":431})",
            {}};
      } else {
        res = Response{
            400,
            "application/problem+json",
            R"({"type":"/problems/bad-request","title":"Bad Request","status":400,"detail":"malformed HTTP request"})",
            {}};
      }
      close = true;
    } else if (over_limit && !is_health_check(parser.get())) {
      res = Response{
          503,
          "application/problem+json",
          R"({"type":"/problems/too-many-connections","title":"Service Unavailable","status":503,"detail":"too many connections"})",
          {{"Retry-After", "5"}}};
      close = true;
    } else {
      auto& h = parser.get();
      // An unsubscribe (/u/<token>) or a console login needs no credentials: its token is
      // checked with the body. A console session's cookie is checked like credentials.
      const bool token_in_body =
          h.target().starts_with("/u/") || h.target().starts_with("/console/");
      if (token_in_body) {
        // Those bodies are a few bytes: a stranger sends no more, whatever the method.
        parser.body_limit(kTokenBodyMax);
      }
      if (token_in_body && parser.content_length().value_or(0) > kTokenBodyMax) {
        res = Response{413, "application/problem+json", kBodyTooLarge, {}};
        close = true;
      } else if (const bool expects = h[http::field::expect] == "100-continue",
                 large =
                     parser.chunked() || parser.content_length().value_or(0) > kUncheckedBodyMax;
                 (expects || large) && h[http::field::authorization].empty()
                 && h[http::field::cookie].empty() && !token_in_body) {
        // No credentials: no invitation to send a body either (issue harden-1), and a large
        // body is not read (a stranger would otherwise make the node hold up to max_body per
        // connection before the 401).
        res = Response{
            401,
            "application/problem+json",
            R"({"type":"/problems/unauthorized","title":"Unauthorized","status":401,"detail":"credentials are required: HTTP Basic or Bearer"})",
            {{"WWW-Authenticate", R"(Basic realm="txmail", Bearer realm="txmail")"}}};
        close = true;
      } else if (expects || large) {
        // Credentials are checked before the body is invited or read: a stranger with a wrong
        // password does not get to send 30 MB first (issue harden-1).
        std::optional<Response> refusal;
        if (precheck) {
          Request pre;
          const std::string_view target(h.target().data(), h.target().size());
          pre.method = std::string(h.method_string());
          (void)decode_path(target.substr(0, target.find('?')), pre.path);
          fill_head(pre, h, remote, is_tls);
          auto starter = [this, &pre](std::function<void(std::optional<Response>)> done) {
            asio::post(workers, [this, p = std::move(pre), done = std::move(done)]() {
              try {
                done(precheck(p));
              } catch (const std::exception& e) {
                logger()->error("http credentials check failed with an exception: {}", e.what());
                done(Response{500, "application/problem+json", kInternalError, {}});
              }
            });
          };
          refusal = co_await await_callback<std::optional<Response>>(std::move(starter));
        }
        if (refusal) {
          res = std::move(*refusal);
          close = true;
        } else if (expects) {
          http::response<http::empty_body> cont{http::status::continue_, h.version()};
          co_await http::async_write(stream, cont, use_tuple);
        }
      }
      boost::system::error_code bec;
      if (!close) {
        lowest.expires_after(options.request_timeout);
        auto [read_ec, bn] = co_await http::async_read(stream, buffer, parser, use_tuple);
        bec = read_ec;
      }
      if (close) {
        // answered above
      } else if (bec == http::error::body_limit) {
        res = Response{413, "application/problem+json", kBodyTooLarge, {}};
        close = true;
      } else if (bec && bec.category() == http::make_error_code(http::error::bad_chunk).category()
                 && bec != http::error::end_of_stream && bec != http::error::partial_message) {
        // A malformed body (a chunk size that overflows, a bad chunk): said, not just closed.
        res = Response{
            400,
            "application/problem+json",
            R"({"type":"/problems/bad-request","title":"Bad Request","status":400,"detail":"malformed request body"})",
            {}};
        close = true;
      } else if (bec) {
        break;
      } else {
        auto msg = parser.release();
        const std::string_view target(msg.target().data(), msg.target().size());
        const std::size_t q = target.find('?');
        req.method = std::string(msg.method_string());
        if (!decode_path(target.substr(0, q), req.path) || !req.path.starts_with("/")) {
          res = Response{
              400,
              "application/problem+json",
              R"({"type":"/problems/bad-request","title":"Bad Request","status":400,"detail":"malformed request target"})",
              {}};
        } else {
          if (q != std::string_view::npos) {
            req.query = std::string(target.substr(q + 1));
          }
          fill_head(req, msg, remote, is_tls);
          req.body = std::move(msg.body());
          close = !msg.keep_alive();
          auto starter = [this, &req](std::function<void(Response)> done) {
            asio::post(workers, [this, r = std::move(req), done = std::move(done)]() mutable {
              // A request that throws fails alone: a 500 for it, and the node goes on.
              auto answered = std::make_shared<std::atomic<bool>>(false);
              auto once = [answered, done = std::move(done)](Response answer) {
                if (!answered->exchange(true)) {
                  done(std::move(answer));
                }
              };
              const std::string what = r.method + " " + printable(r.path);
              try {
                handler(std::move(r), once);
              } catch (const std::exception& e) {
                logger()->error("http {} failed with an exception: {}", what, e.what());
                once(Response{500, "application/problem+json", kInternalError, {}});
              }
            });
          };
          res = co_await await_callback<Response>(std::move(starter));
        }
      }
    }
    if (res.stream) {
      const bool whole = co_await write_streamed(stream, lowest, res, !close && !stopping);
      if (!whole || close || stopping) {
        break;
      }
      continue;
    }
    http::response<http::string_body> out{static_cast<http::status>(res.status), 11};
    out.set(http::field::server, options.server_name);
    if (!res.body.empty() || res.status != 204) {
      out.set(http::field::content_type, res.content_type);
    }
    for (const auto& [k, v] : res.headers) {
      out.set(k, v);
    }
    out.body() = std::move(res.body);
    out.keep_alive(!close && !stopping);
    out.prepare_payload();
    lowest.expires_after(options.request_timeout);
    auto [wec, wn] = co_await http::async_write(stream, out, use_tuple);
    if (!wec && close && res.status >= 400) {
      // A lingering close: the client may still be sending the body we refused; closing now
      // would reset the connection before it reads the answer. Discard for a moment.
      if constexpr (std::is_same_v<Stream, beast::tcp_stream>) {
        boost::system::error_code ignored;
        lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
      }
      lowest.expires_after(std::chrono::seconds(3));
      std::array<char, 16384> discard{};
      for (std::size_t drained = 0; drained < 4 * options.max_body_bytes;) {
        auto [rec, rn] = co_await stream.async_read_some(asio::buffer(discard), use_tuple);
        if (rec) {
          break;
        }
        drained += rn;
      }
    }
    if (wec || close || stopping) {
      break;
    }
  }
}

// The header, then each piece the producer makes as one chunk, then the last chunk. At most one
// piece is held at a time: the next is asked for once the previous one is written. False when
// the body could not be sent whole (the connection is then closed).
template <typename Stream>
awaitable<bool> HttpServer::State::write_streamed(Stream& stream, beast::tcp_stream& lowest,
                                                  Response& res, bool keep_alive) {
  http::response<http::empty_body> head{static_cast<http::status>(res.status), 11};
  head.set(http::field::server, options.server_name);
  head.set(http::field::content_type, res.content_type);
  for (const auto& [k, v] : res.headers) {
    head.set(k, v);
  }
  head.keep_alive(keep_alive);
  head.chunked(true);
  http::response_serializer<http::empty_body> serializer{head};
  lowest.expires_after(options.request_timeout);
  auto [hec, hn] = co_await http::async_write_header(stream, serializer, use_tuple);
  if (hec) {
    co_return false;
  }
  for (;;) {
    if (stopping) {
      co_return false;  // shutting down: the client sees an incomplete body
    }
    // `res` outlives the call: the coroutine (its owner) is held by `done` until the worker
    // returns. The producer keeps its position, so it is called, never copied.
    auto starter = [this, &res](std::function<void(Result<std::string>)> done) {
      asio::post(workers, [&res, done = std::move(done)]() {
        try {
          done(res.stream());
        } catch (const std::exception& e) {
          done(make_error(ErrorCode::kInternal, std::string("exception: ") + e.what()));
        }
      });
    };
    auto piece = co_await await_callback<Result<std::string>>(std::move(starter));
    if (!piece) {
      logger()->error("http: a streamed answer failed midway: {}", piece.error().detail);
      co_return false;
    }
    lowest.expires_after(options.request_timeout);
    if (piece->empty()) {
      auto [lec, ln] = co_await asio::async_write(stream, http::make_chunk_last(), use_tuple);
      co_return !lec;
    }
    auto [cec, cn] =
        co_await asio::async_write(stream, http::make_chunk(asio::buffer(*piece)), use_tuple);
    if (cec) {
      co_return false;
    }
  }
}

}  // namespace txmail::api
