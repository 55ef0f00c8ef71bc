// ClusterNode: the connection, the configuration snapshot and the heartbeat of a serving node.
#include <atomic>
#include <boost/json.hpp>
#include <condition_variable>
#include <filesystem>
#include <thread>

#include "cluster/cluster.h"
#include "cluster/event_replication.h"
#include "cluster/jetstream_spool.h"
#include "cluster/key_codec.h"
#include "cluster/kv_config_store.h"
#include "cluster/kv_idempotency.h"
#include "cluster/kv_rate_limiter.h"
#include "cluster/region_hooks.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/log.h"
#include "tenancy/master_key.h"

namespace txmail::cluster {

NatsOptions nats_options(const ClusterOptions& o) {
  return NatsOptions{.servers = o.nats,
                     .user = o.user,
                     .password = o.password,
                     .creds_file = o.creds_file,
                     .ca_file = o.ca_file,
                     .name = o.node,
                     .home_domain = o.home_domain,
                     .timeout = o.timeout};
}

struct ClusterNode::Impl {
  ClusterOptions options;
  std::unique_ptr<NatsConnection> nats;
  std::unique_ptr<KvConfigStore> config;
  std::atomic<std::int64_t> last_answer_ms{0};  // steady clock, the last heartbeat stored
  std::mutex spool_mutex;
  std::string spool_status;   // what the spool says of itself in the heartbeat (JSON)
  std::string events_status;  // and the events stream's copier (JSON), under the same mutex
  // The dead nodes whose spool this node holds (the spool says), under the same mutex.
  std::vector<std::string> taken_readers;
  std::int64_t started_ms = 0;
  std::mutex mutex;
  std::condition_variable cv;
  bool stopping = false;
  std::thread heartbeat;

  static std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
  }

  // A heartbeat is a write to an R3 bucket: stored means the region's quorum answers.
  bool beat() {
    if (!nats->connected()) {
      return false;
    }
    boost::json::object o{{"node", options.node},
                          {"site", options.site},
                          {"region", options.region},
                          {"server", nats->connected_url()},
                          {"ts", now_ms()}};
    {
      std::lock_guard lock(spool_mutex);
      for (const std::string* status : {&spool_status, &events_status}) {
        if (status->empty()) {
          continue;
        }
        boost::system::error_code ec;
        auto v = boost::json::parse(*status, ec);
        if (!ec && v.is_object()) {
          for (const auto& [k, x] : v.as_object()) {
            o[k] = x;
          }
        }
      }
    }
    const std::string body = boost::json::serialize(o);
    const std::string subject = std::string("$KV.") + kNodesBucket + "." + encode_key(options.node);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = options.timeout.count();
    jsPubAck* ack = nullptr;
    auto jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_Publish(&ack, nats->js(), subject.c_str(), body.data(),
                              static_cast<int>(body.size()), &po, &jerr);
    jsPubAck_Destroy(ack);
    return s == NATS_OK;
  }

  void run() {
    const auto period =
        std::min<std::chrono::milliseconds>(std::chrono::seconds(1), options.quorum_grace / 3);
    bool was_ok = true;
    std::unique_lock lock(mutex);
    while (!stopping) {
      lock.unlock();
      const bool ok = beat();
      if (ok) {
        last_answer_ms.store(steady_ms());
      }
      if (ok != was_ok) {
        if (ok) {
          logger()->info("cluster: the region answers again");
        } else {
          logger()->warn(
              "cluster: a heartbeat was not stored (the region's quorum does not answer)");
        }
        was_ok = ok;
      }
      lock.lock();
      cv.wait_for(lock, period, [this] { return stopping; });
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex);
      if (stopping) {
        return;
      }
      stopping = true;
    }
    cv.notify_all();
    if (heartbeat.joinable()) {
      heartbeat.join();
    }
  }
};

ClusterNode::ClusterNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ClusterNode::~ClusterNode() {
  impl_->stop();
  impl_->config.reset();
}

Result<std::unique_ptr<ClusterNode>> ClusterNode::join(const ClusterOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  auto nats = NatsConnection::open(nats_options(options), true);
  if (!nats) {
    return tl::unexpected(nats.error());
  }
  impl->nats = std::move(*nats);
  auto config = KvConfigStore::open(*impl->nats, kConfigBucket, options.start_timeout);
  if (!config) {
    return tl::unexpected(config.error());
  }
  impl->config = std::move(*config);
  logger()->info("cluster: configuration loaded from {}: {} entries at revision {}",
                 impl->nats->connected_url(), impl->config->size(), impl->config->revision());
  impl->started_ms = Impl::steady_ms();
  impl->last_answer_ms.store(impl->started_ms);
  if (options.heartbeat) {
    impl->heartbeat = std::thread([p = impl.get()] { p->run(); });
  }
  return std::unique_ptr<ClusterNode>(new ClusterNode(std::move(impl)));
}

store::ConfigStore& ClusterNode::config() {
  return *impl_->config;
}

std::optional<std::string> ClusterNode::unready_reason() const {
  if (!impl_->options.heartbeat) {
    return std::nullopt;
  }
  const std::int64_t silent = Impl::steady_ms() - impl_->last_answer_ms.load();
  if (silent <= impl_->options.quorum_grace.count()) {
    return std::nullopt;
  }
  return std::string(impl_->nats->connected() ? "the region's NATS quorum does not answer"
                                              : "no NATS server of the region is reachable")
         + " (for " + std::to_string(silent / 1000) + " s)";
}

void ClusterNode::leave() {
  impl_->stop();
  if (impl_->options.heartbeat && impl_->nats->connected()) {
    const std::string subject =
        std::string("$KV.") + kNodesBucket + "." + encode_key(impl_->options.node);
    natsMsg* m = nullptr;
    if (natsMsg_Create(&m, subject.c_str(), nullptr, "", 0) == NATS_OK
        && natsMsgHeader_Set(m, "KV-Operation", "DEL") == NATS_OK) {
      jsPubAck* ack = nullptr;
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MaxWait = 1000;
      js_PublishMsg(&ack, impl_->nats->js(), m, &po, nullptr);
      jsPubAck_Destroy(ack);
    }
    natsMsg_Destroy(m);
  }
}

Result<std::unique_ptr<ClusterSpool>> ClusterNode::open_spool(store::Spool& local,
                                                              const std::string& data_dir) {
  Impl* impl = impl_.get();
  auto spool = std::make_unique<JetStreamSpool>(
      SpoolContext{.nats = *impl->nats,
                   .options = impl->options,
                   .local = local,
                   .data_dir = data_dir,
                   .region_answers = [this] { return !unready_reason(); },
                   .last_beat_ms = [impl] { return impl->last_answer_ms.load(); },
                   .announce =
                       [impl](std::string status) {
                         std::lock_guard lock(impl->spool_mutex);
                         impl->spool_status = std::move(status);
                       },
                   .config = *impl->config,
                   .dead_held =
                       [impl](std::vector<std::string> nodes) {
                         std::lock_guard lock(impl->spool_mutex);
                         impl->taken_readers = std::move(nodes);
                       }});
  if (auto opened = spool->open(); !opened) {
    return tl::unexpected(opened.error());
  }
  return spool;
}

Result<std::unique_ptr<api::Idempotency>> ClusterNode::open_idempotency() {
  auto opened = KvIdempotency::open(*impl_->nats);
  if (!opened) {
    return tl::unexpected(opened.error());
  }
  return std::unique_ptr<api::Idempotency>(std::move(*opened));
}

Result<std::unique_ptr<tenancy::RequestLimiter>> ClusterNode::open_rate_limiter() {
  auto opened = KvRateLimiter::open(*impl_->nats, impl_->options.node);
  if (!opened) {
    return tl::unexpected(opened.error());
  }
  return std::unique_ptr<tenancy::RequestLimiter>(std::move(*opened));
}

Result<std::unique_ptr<ClusterEvents>> ClusterNode::replicate_events(
    events::SqliteEventLog& log, std::function<void(std::function<void()>)> answer) {
  Impl* impl = impl_.get();
  auto started = EventReplication::start(
      *impl->nats, impl->options.node, log,
      [impl](std::string status) {
        std::lock_guard lock(impl->spool_mutex);
        impl->events_status = std::move(status);
      },
      std::move(answer));
  if (!started) {
    return tl::unexpected(started.error());
  }
  return std::unique_ptr<ClusterEvents>(std::move(*started));
}

Result<std::unique_ptr<events::HookQueue>> ClusterNode::open_hook_queue(
    std::function<std::string(const std::string&, const std::string&)> url_of) {
  Impl* impl = impl_.get();
  auto opened = RegionHooks::open(*impl->nats, impl->options.node, std::move(url_of), [impl] {
    std::lock_guard lock(impl->spool_mutex);
    return impl->taken_readers;
  });
  if (!opened) {
    return tl::unexpected(opened.error());
  }
  return std::unique_ptr<events::HookQueue>(std::move(*opened));
}

Result<void> keygen(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    return make_error(ErrorCode::kConflict,
                      path + " exists; a cluster master key is never overwritten");
  }
  auto key = tenancy::MasterKey::load_or_create(path);
  if (!key) {
    return tl::unexpected(key.error());
  }
  return {};
}

}  // namespace txmail::cluster
