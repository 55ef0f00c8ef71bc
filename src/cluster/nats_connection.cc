#include "cluster/nats_connection.h"

#include <algorithm>

#include "common/log.h"

namespace txmail::cluster {

Error nats_error(natsStatus s, const std::string& what) {
  const char* detail = nats_GetLastError(nullptr);
  std::string text = what + ": " + natsStatus_GetText(s);
  if (detail != nullptr && *detail != '\0' && std::string_view(detail) != natsStatus_GetText(s)) {
    text += " (" + std::string(detail) + ")";
  }
  return Error{nats_unreachable(s) ? ErrorCode::kUnavailable : ErrorCode::kInternal, text};
}

bool nats_unreachable(natsStatus s) {
  static constexpr natsStatus kNoAnswer[] = {NATS_CONNECTION_CLOSED,
                                             NATS_CONNECTION_DISCONNECTED,
                                             NATS_NO_SERVER,
                                             NATS_NO_RESPONDERS,
                                             NATS_TIMEOUT,
                                             NATS_STALE_CONNECTION,
                                             NATS_INSUFFICIENT_BUFFER,
                                             NATS_IO_ERROR,
                                             NATS_NOT_YET_CONNECTED};
  return std::find(std::begin(kNoAnswer), std::end(kNoAnswer), s) != std::end(kNoAnswer);
}

namespace {

// natsOptions is a C object: destroyed on every path.
struct OptionsGuard {
  natsOptions* o = nullptr;

  OptionsGuard() = default;

  ~OptionsGuard() { natsOptions_Destroy(o); }

  OptionsGuard(const OptionsGuard&) = delete;
  OptionsGuard& operator=(const OptionsGuard&) = delete;
  OptionsGuard(OptionsGuard&&) = delete;
  OptionsGuard& operator=(OptionsGuard&&) = delete;
};

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
natsStatus apply(natsOptions* o, const NatsOptions& options, bool wait_for_server, void* self,
                 natsConnectionHandler connected, natsConnectionHandler disconnected,
                 natsConnectionHandler closed) {
  std::vector<const char*> urls;
  urls.reserve(options.servers.size());
  for (const auto& s : options.servers) {
    urls.push_back(s.c_str());
  }
  natsStatus s = natsOptions_SetServers(o, urls.data(), static_cast<int>(urls.size()));
  // The node's own site first: no shuffling of the list. Only the listed servers: the
  // operator decides which sites a node may reach (a cut-off site must not look alive
  // through a server it learned of by gossip).
  if (s == NATS_OK) {
    s = natsOptions_SetNoRandomize(o, true);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetIgnoreDiscoveredServers(o, true);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetName(o, options.name.c_str());
  }
  if (s == NATS_OK) {
    s = natsOptions_SetTimeout(o, options.timeout.count());
  }
  if (s == NATS_OK) {
    s = natsOptions_SetMaxReconnect(o, -1);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectWait(o, 250);
  }
  // A dead server is noticed within about three seconds, not the default two minutes.
  if (s == NATS_OK) {
    s = natsOptions_SetPingInterval(o, 1000);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetMaxPingsOut(o, 2);
  }
  // No replay of writes after a reconnection (see the header): a one-byte buffer.
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectBufSize(o, 1);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetDisconnectedCB(o, disconnected, self);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectedCB(o, connected, self);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetClosedCB(o, closed, self);
  }
  if (s == NATS_OK && wait_for_server) {
    s = natsOptions_SetRetryOnFailedConnect(o, true, connected, self);
  }
  if (s == NATS_OK && !options.user.empty()) {
    s = natsOptions_SetUserInfo(o, options.user.c_str(), options.password.c_str());
  }
  if (s == NATS_OK && !options.creds_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(o, options.creds_file.c_str(), nullptr);
  }
  if (s == NATS_OK && !options.ca_file.empty()) {
    s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK) {
      s = natsOptions_LoadCATrustedCertificates(o, options.ca_file.c_str());
    }
  }
  return s;
}

Result<jsCtx*> jetstream(natsConnection* nc, const NatsOptions& options,
                         const std::string& domain) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options.timeout.count();
  if (!domain.empty()) {
    jo.Domain = domain.c_str();
  }
  jsCtx* js = nullptr;
  if (natsStatus s = natsConnection_JetStream(&js, nc, &jo); s != NATS_OK) {
    return tl::unexpected(nats_error(s, "cluster: JetStream context"));
  }
  return js;
}

}  // namespace

Result<std::unique_ptr<NatsConnection>> NatsConnection::open(const NatsOptions& options,
                                                             bool wait_for_server) {
  if (options.servers.empty()) {
    return make_error(ErrorCode::kConfig, "cluster.nats: no server");
  }
  std::unique_ptr<NatsConnection> c(new NatsConnection(options));
  OptionsGuard o;
  natsStatus s = natsOptions_Create(&o.o);
  if (s == NATS_OK) {
    s = apply(o.o, options, wait_for_server, c->events_, &NatsConnection::on_connected,
              &NatsConnection::on_disconnected, &NatsConnection::on_closed);
  }
  if (s != NATS_OK) {
    return make_error(ErrorCode::kConfig, nats_error(s, "cluster: connection options").detail);
  }
  s = natsConnection_Connect(&c->nc_, o.o);
  if (s == NATS_NOT_YET_CONNECTED) {
    logger()->warn("cluster: no NATS server of {} answers yet; retrying in the background",
                   options.servers.front());
  } else if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, "cluster: cannot connect to " + options.servers.front()));
  } else {
    c->events_->generation.fetch_add(1);
  }
  auto js = jetstream(c->nc_, options, "");
  if (!js) {
    return tl::unexpected(js.error());
  }
  c->js_ = *js;
  if (options.home_domain.empty()) {
    c->home_ = c->js_;
  } else {
    auto home = jetstream(c->nc_, options, options.home_domain);
    if (!home) {
      return tl::unexpected(home.error());
    }
    c->home_ = *home;
  }
  return c;
}

NatsConnection::~NatsConnection() {
  events_->closing.store(true);
  if (home_ != js_) {
    jsCtx_Destroy(home_);
  }
  jsCtx_Destroy(js_);
  if (nc_ != nullptr) {
    natsConnection_Close(nc_);
    natsConnection_Destroy(nc_);  // on_closed frees events_
  } else {
    delete events_;
  }
}

bool NatsConnection::connected() const {
  return nc_ != nullptr && natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
}

std::string NatsConnection::connected_url() const {
  char buf[256] = {0};
  if (nc_ == nullptr || natsConnection_GetConnectedUrl(nc_, buf, sizeof buf) != NATS_OK) {
    return {};
  }
  return buf;
}

std::string NatsConnection::connected_server() const {
  char buf[256] = {0};
  if (nc_ == nullptr || natsConnection_GetConnectedServerId(nc_, buf, sizeof buf) != NATS_OK) {
    return {};
  }
  return buf;
}

void NatsConnection::on_connected(natsConnection* nc, void* events) {
  static_cast<Events*>(events)->generation.fetch_add(1);
  char url[256] = {0};
  natsConnection_GetConnectedUrl(nc, url, sizeof url);
  logger()->info("cluster: connected to NATS {}", url);
}

void NatsConnection::on_disconnected(natsConnection* /*nc*/, void* events) {
  if (!static_cast<Events*>(events)->closing.load()) {
    logger()->warn("cluster: disconnected from NATS");
  }
}

void NatsConnection::on_closed(natsConnection* /*nc*/, void* events) {
  delete static_cast<Events*>(events);
}

}  // namespace txmail::cluster
