#include "cluster/event_replication.h"

#include <boost/json.hpp>
#include <unordered_map>

#include "cluster/key_codec.h"
#include "common/duration.h"
#include "common/log.h"

namespace txmail::cluster {

namespace json = boost::json;

namespace {

constexpr std::size_t kRound = 500;  // events read, published or imported at a time
constexpr auto kIdle = std::chrono::milliseconds(20);
constexpr auto kRetryPause = std::chrono::milliseconds(500);
constexpr auto kImportWait = std::chrono::milliseconds(20);  // gathering one import batch

// The acknowledgement callback's closure is a number looked up here, never a pointer: a
// callback already running when replication stops finds nothing instead of freed memory
// (jsCtx_Destroy does not wait for a running callback; the spool does the same).
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}

std::unordered_map<std::uintptr_t, EventReplication*>& registry() {
  static std::unordered_map<std::uintptr_t, EventReplication*> r;
  return r;
}

void on_ack(jsCtx* /*js*/, natsMsg* msg, jsPubAck* /*pa*/, jsPubAckErr* pae, void* closure) {
  {
    std::lock_guard lock(registry_mutex());
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): a number, never dereferenced
    if (auto it = registry().find(reinterpret_cast<std::uintptr_t>(closure));
        it != registry().end()) {
      it->second->acknowledged(pae == nullptr);
    }
  }
  natsMsg_Destroy(msg);
}

std::string encode(const events::Event& e) {
  return json::serialize(json::object{{"tag", e.tag},
                                      {"ts", e.ts_ms},
                                      {"kind", static_cast<std::int64_t>(e.kind)},
                                      {"job", e.job_id},
                                      {"mail", e.mail_id},
                                      {"account", e.account},
                                      {"rcpt", e.recipient},
                                      {"from", e.sender},
                                      {"attempt", e.attempt},
                                      {"host", e.remote_host},
                                      {"reply", e.reply},
                                      {"egress", e.egress},
                                      {"tls", e.tls}});
}

std::optional<events::Event> decode(std::string_view data) {
  std::error_code ec;
  auto v = json::parse(data, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto& o = v.as_object();
  auto text = [&o](const char* name) {
    const auto* f = o.if_contains(name);
    return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  auto number = [&o](const char* name) {
    const auto* f = o.if_contains(name);
    return f != nullptr && f->is_int64()    ? f->as_int64()
           : f != nullptr && f->is_uint64() ? static_cast<std::int64_t>(f->as_uint64())
                                            : std::int64_t{0};
  };
  events::Event e;
  e.tag = text("tag");
  e.ts_ms = number("ts");
  e.kind = static_cast<events::Kind>(number("kind"));
  e.job_id = text("job");
  e.mail_id = text("mail");
  e.account = text("account");
  e.recipient = text("rcpt");
  e.sender = text("from");
  e.attempt = static_cast<std::uint32_t>(number("attempt"));
  e.remote_host = text("host");
  e.reply = text("reply");
  e.egress = text("egress");
  e.tls = text("tls");
  if (e.tag.empty() || e.job_id.empty()) {
    return std::nullopt;
  }
  return e;
}

}  // namespace

std::string events_subject(const std::string& node) {
  return "txmail.events." + encode_key(node);
}

Result<std::unique_ptr<EventReplication>> EventReplication::start(NatsConnection& nats,
                                                                  std::string node,
                                                                  events::SqliteEventLog& log,
                                                                  Announce announce) {
  std::unique_ptr<EventReplication> r(
      new EventReplication(nats, std::move(node), log, std::move(announce)));
  static std::atomic<std::uintptr_t> next_id{1};
  r->registry_id_ = next_id.fetch_add(1);
  {
    std::lock_guard lock(registry_mutex());
    registry().emplace(r->registry_id_, r.get());
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = nats.options().timeout.count();
  jo.PublishAsync.MaxPending = 4 * kRound;
  jo.PublishAsync.AckHandler = &on_ack;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast,performance-no-int-to-ptr)
  jo.PublishAsync.AckHandlerClosure = reinterpret_cast<void*>(r->registry_id_);
  if (natsStatus s = natsConnection_JetStream(&r->js_, nats.raw(), &jo); s != NATS_OK) {
    return tl::unexpected(nats_error(s, "cluster: events publisher"));
  }
  // The stream must exist (made by `cluster init`): a node never publishes into nothing.
  jsStreamInfo* si = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  if (natsStatus s = js_GetStreamInfo(&si, nats.js(), kEventsStream, nullptr, &jerr);
      s != NATS_OK) {
    return tl::unexpected(nats_error(s, std::string("cluster: the stream ") + kEventsStream
                                            + " (made by `txmail cluster init`)"));
  }
  jsStreamInfo_Destroy(si);
  auto published = log.position(kPublishedPosition);
  auto imported = log.position(kImportedPosition);
  if (!published || !imported) {
    return tl::unexpected(!published ? published.error() : imported.error());
  }
  r->published_position_ = *published;
  r->imported_position_ = *imported;
  EventReplication* self = r.get();
  r->publisher_ = std::thread([self] { self->publish_loop(); });
  r->importer_ = std::thread([self] { self->import_loop(); });
  return r;
}

EventReplication::~EventReplication() {
  {
    std::lock_guard lock(stop_mutex_);
    stop_.store(true);
  }
  stop_cv_.notify_all();
  if (publisher_.joinable()) {
    publisher_.join();
  }
  if (importer_.joinable()) {
    importer_.join();
  }
  {
    std::lock_guard lock(registry_mutex());
    registry().erase(registry_id_);
  }
  jsCtx_Destroy(js_);
}

void EventReplication::acknowledged(bool ok) {
  (ok ? acks_ok_ : acks_failed_).fetch_add(1);
}

bool EventReplication::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(stop_mutex_);
  return !stop_cv_.wait_for(lock, d, [this] { return stop_.load(); });
}

void EventReplication::announce() {
  if (!announce_) {
    return;
  }
  const auto s = stats();
  announce_(json::serialize(json::object{{"events_published_seq", s.published_position},
                                         {"events_imported_seq", imported_position_.load()},
                                         {"events_import_pending", s.import_pending},
                                         {"events_import_lag_ms", s.import_lag_ms}}));
}

ClusterEventStats EventReplication::stats() const {
  ClusterEventStats s;
  s.published = published_.load();
  s.publish_failures = publish_failures_.load();
  s.published_position = published_position_.load();
  s.imported = imported_.load();
  s.import_pending = import_pending_.load();
  s.import_lag_ms = last_import_lag_ms_.load();
  return s;
}

void EventReplication::publish_loop() {
  bool reported = false;
  std::int64_t at = published_position_.load();
  while (!stop_.load()) {
    auto done = nats_.connected() ? publish_round(at)
                                  : make_error(ErrorCode::kUnavailable, "not connected to NATS");
    if (!done) {
      publish_failures_.fetch_add(1);
      if (!reported) {
        logger()->warn("cluster: events are not published to the region yet ({}); retrying",
                       done.error().detail);
        reported = true;
      }
      pause(kRetryPause);
      continue;
    }
    if (reported) {
      logger()->info("cluster: events are published to the region again");
      reported = false;
    }
    if (*done == at) {
      pause(kIdle);
      continue;
    }
    at = *done;
    published_position_.store(at);
    log_.record_position(kPublishedPosition, at);
    announce();
  }
}

Result<std::int64_t> EventReplication::publish_round(std::int64_t from) {
  auto rows = log_.read_after(from, kRound);
  if (!rows) {
    return tl::unexpected(rows.error());
  }
  if (rows->empty()) {
    return from;
  }
  const std::string subject = events_subject(node_);
  const std::uint64_t ok_before = acks_ok_.load();
  const std::uint64_t failed_before = acks_failed_.load();
  std::uint64_t sent = 0;
  for (const auto& r : *rows) {
    if (!r.event.origin.empty()) {
      continue;  // another node's event, copied here
    }
    const std::string body = encode(r.event);
    const std::string id = node_ + "/" + std::to_string(r.seq);
    natsMsg* m = nullptr;
    natsStatus s =
        natsMsg_Create(&m, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
    if (s == NATS_OK) {
      s = natsMsgHeader_Set(m, "Nats-Msg-Id", id.c_str());
    }
    if (s == NATS_OK) {
      s = js_PublishMsgAsync(js_, &m, nullptr);  // the library owns m once sent
    }
    natsMsg_Destroy(m);
    if (s != NATS_OK) {
      return tl::unexpected(nats_error(s, "publishing events"));
    }
    ++sent;
  }
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = nats_.options().timeout.count();
  if (natsStatus s = js_PublishAsyncComplete(js_, &po); s != NATS_OK) {
    return tl::unexpected(nats_error(s, "waiting for the region to store events"));
  }
  if (acks_failed_.load() != failed_before || acks_ok_.load() - ok_before < sent) {
    return make_error(ErrorCode::kUnavailable, "the region refused some events");
  }
  published_.fetch_add(sent);
  return rows->back().seq;
}

void EventReplication::import_loop() {
  while (!stop_.load()) {
    if (!nats_.connected()) {
      pause(std::chrono::milliseconds(100));
      continue;
    }
    import_once(imported_position_.load());
  }
}

// One ordered consumer from the position on, until it fails, the connection is made again, or
// the node stops. Each batch goes to the log with the stream position it comes up to.
void EventReplication::import_once(std::int64_t from) {
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Ordered = true;
  so.Stream = kEventsStream;
  if (from > 0) {
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = static_cast<std::uint64_t>(from) + 1;
  } else {
    so.Config.DeliverPolicy = js_DeliverAll;
  }
  natsSubscription* sub = nullptr;
  const std::uint64_t generation = nats_.generation();
  auto jerr = static_cast<jsErrCode>(0);
  if (natsStatus s = js_SubscribeSync(&sub, nats_.js(), kEventsSubjects, nullptr, &so, &jerr);
      s != NATS_OK) {
    logger()->warn("{}", nats_error(s, "cluster: following the events stream").detail);
    pause(kRetryPause);
    return;
  }
  std::vector<events::Event> batch;
  std::int64_t position = from;
  std::int64_t newest_ts = 0;
  auto flush = [&] {
    if (position == imported_position_.load()) {
      return;
    }
    imported_.fetch_add(batch.size());
    if (newest_ts > 0) {
      last_import_lag_ms_.store(std::max<std::int64_t>(0, now_ms() - newest_ts));
    }
    log_.import(std::move(batch), kImportedPosition, position, [] {});
    batch.clear();
    newest_ts = 0;
    imported_position_.store(position);
    announce();
  };
  const std::string own = events_subject(node_);
  while (!stop_.load() && nats_.generation() == generation) {
    NatsMsg m;
    const natsStatus s =
        natsSubscription_NextMsg(&m.msg, sub, batch.empty() ? 250 : kImportWait.count());
    if (s == NATS_TIMEOUT) {
      flush();
      continue;
    }
    if (s != NATS_OK) {
      logger()->warn("{}", nats_error(s, "cluster: following the events stream").detail);
      break;
    }
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m.msg) != NATS_OK) {
      continue;
    }
    position = static_cast<std::int64_t>(meta->Sequence.Stream);
    import_pending_.store(meta->NumPending);
    jsMsgMetaData_Destroy(meta);
    const std::string_view subject = natsMsg_GetSubject(m.msg);
    if (subject != own) {
      auto e = decode(m.data());
      auto origin = decode_key(subject.substr(std::string_view("txmail.events.").size()));
      if (e && origin) {
        e->origin = std::move(*origin);
        newest_ts = std::max(newest_ts, e->ts_ms);
        batch.push_back(std::move(*e));
      } else {
        logger()->warn("cluster: events stream message {} is not a txmail event; skipped",
                       position);
      }
    }
    if (batch.size() >= kRound) {
      flush();
    }
  }
  flush();
  if (stop_.load()) {
    return;  // left to the connection's close, as the config store's watcher (nats.c 3.4.1)
  }
  natsSubscription_Destroy(sub);
}

}  // namespace txmail::cluster
