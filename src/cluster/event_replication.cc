#include "cluster/event_replication.h"

#include <boost/json.hpp>
#include <charconv>
#include <future>
#include <limits>
#include <set>
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

// An event, with its job's data when `job` is given (the first of the job's events in a round):
// a node that delivers a job it took over finds the job's own endpoint in its log.
std::string encode(const events::Event& e, const events::JobInfo* job) {
  json::object o{
      {"tag", e.tag},          {"ts", e.ts_ms},     {"kind", static_cast<std::int64_t>(e.kind)},
      {"job", e.job_id},       {"mail", e.mail_id}, {"account", e.account},
      {"rcpt", e.recipient},   {"from", e.sender},  {"attempt", e.attempt},
      {"host", e.remote_host}, {"reply", e.reply},  {"egress", e.egress},
      {"tls", e.tls}};
  if (job != nullptr) {
    o["job_data"] = events::to_json(*job);
  }
  return json::serialize(o);
}

std::optional<events::Event> decode(std::string_view data,
                                    std::optional<events::JobInfo>* job = nullptr) {
  std::error_code ec;
  json::parse_options po;
  po.allow_invalid_utf8 = true;  // a remote server's reply is kept as it came (not always UTF-8)
  auto v = json::parse(data, ec, {}, po);
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
  const std::int64_t kind = number("kind");
  if (kind < 0 || kind > static_cast<std::int64_t>(events::kLastKind)) {
    return std::nullopt;  // a kind this version does not know (a newer node's)
  }
  events::Event e;
  e.tag = text("tag");
  e.ts_ms = number("ts");
  e.kind = static_cast<events::Kind>(kind);
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
  if (const auto* job_data = o.if_contains("job_data"); job != nullptr && job_data != nullptr) {
    *job = events::job_info_from_json(*job_data, e.job_id);
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
                                                                  Announce announce, Post answer) {
  std::unique_ptr<EventReplication> r(
      new EventReplication(nats, std::move(node), log, std::move(announce), std::move(answer)));
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
  // Looked up by number, as the acknowledgement callback: a relay running while replication
  // stops finds nothing (and lets its acceptance be answered) instead of freed memory.
  const std::uintptr_t id = r->registry_id_;
  log.set_region({.relay =
                      [id](std::int64_t seq, std::function<void()> done) {
                        {
                          std::lock_guard lock(registry_mutex());
                          if (auto it = registry().find(id);
                              it != registry().end() && it->second->take_waiter(seq, done)) {
                            return;
                          }
                        }
                        done();
                      },
                  .stored =
                      [id] {
                        std::lock_guard lock(registry_mutex());
                        if (auto it = registry().find(id); it != registry().end()) {
                          it->second->wake();
                        }
                      }});
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
  log_.set_region({});
  // Their events are on this disk; the next start publishes them.
  std::deque<Waiter> left;
  {
    std::lock_guard lock(waiters_mutex_);
    left.swap(waiters_);
  }
  answered_unpublished_.fetch_add(left.size());
  for (auto& w : left) {
    answer_(std::move(w.done));
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

void EventReplication::idle() {
  std::unique_lock lock(stop_mutex_);
  stop_cv_.wait_for(lock, kIdle, [this] { return stop_.load() || wanted_; });
  wanted_ = false;
}

bool EventReplication::take_waiter(std::int64_t seq, std::function<void()>& done) {
  if (failing_.load() || !nats_.connected()) {
    // The region does not answer now: no acceptance waits for it (the events are on this
    // disk and go out once it answers again).
    answered_unpublished_.fetch_add(1);
    return false;
  }
  {
    std::lock_guard lock(waiters_mutex_);
    if (seq <= published_position_.load()) {
      return false;
    }
    waiters_.push_back(Waiter{seq, Clock::now(), std::move(done)});
  }
  wake();
  return true;
}

void EventReplication::wake() {
  {
    std::lock_guard lock(stop_mutex_);
    wanted_ = true;
  }
  stop_cv_.notify_all();
}

void EventReplication::release(std::int64_t at) {
  const auto overdue = Clock::now() - nats_.options().timeout;
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lock(waiters_mutex_);
    while (!waiters_.empty() && (waiters_.front().seq <= at || waiters_.front().since < overdue)) {
      if (waiters_.front().seq > at) {
        answered_unpublished_.fetch_add(1);
      }
      ready.push_back(std::move(waiters_.front().done));
      waiters_.pop_front();
    }
  }
  for (auto& done : ready) {
    answer_(std::move(done));  // never on this thread: an answer may wait for NATS itself
  }
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
  s.answered_unpublished = answered_unpublished_.load();
  return s;
}

void EventReplication::publish_loop() {
  bool reported = false;
  std::int64_t at = published_position_.load();
  while (!stop_.load()) {
    auto done = nats_.connected() ? publish_round(at)
                                  : make_error(ErrorCode::kUnavailable, "not connected to NATS");
    if (!done) {
      failing_.store(true);
      publish_failures_.fetch_add(1);
      if (!reported) {
        logger()->warn("cluster: events are not published to the region yet ({}); retrying",
                       done.error().detail);
        reported = true;
      }
      release(at);  // only those that waited too long
      pause(kRetryPause);
      continue;
    }
    failing_.store(false);
    if (reported) {
      logger()->info("cluster: events are published to the region again");
      reported = false;
    }
    if (*done == at) {
      release(at);
      idle();
      continue;
    }
    at = *done;
    {
      // Under the waiters' lock: take_waiter compares with it there, so a waiter is never
      // queued for a position this round already passed without being released below.
      std::lock_guard lock(waiters_mutex_);
      published_position_.store(at);
    }
    release(at);
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
  jsPubOptions po;
  jsPubOptions_Init(&po);
  // Without it nats.c keeps a message whose acknowledgement is lost pending for ever (and
  // every later round would wait for it).
  po.MaxWait = nats_.options().timeout.count();
  const std::uint64_t ok_before = acks_ok_.load();
  const std::uint64_t failed_before = acks_failed_.load();
  std::uint64_t sent = 0;
  std::set<std::string> jobs_sent;
  for (const auto& r : *rows) {
    if (!r.event.origin.empty()) {
      continue;  // another node's event, copied here
    }
    const bool with_job = !r.job.job_id.empty() && jobs_sent.insert(r.job.job_id).second;
    const std::string body = encode(r.event, with_job ? &r.job : nullptr);
    const std::string id = node_ + "/" + std::to_string(r.seq);
    natsMsg* m = nullptr;
    natsStatus s =
        natsMsg_Create(&m, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
    if (s == NATS_OK) {
      s = natsMsgHeader_Set(m, "Nats-Msg-Id", id.c_str());
    }
    if (s == NATS_OK) {
      s = js_PublishMsgAsync(js_, &m, &po);  // the library owns m once sent
    }
    natsMsg_Destroy(m);
    if (s != NATS_OK) {
      return tl::unexpected(nats_error(s, "publishing events"));
    }
    ++sent;
  }
  if (natsStatus s = js_PublishAsyncComplete(js_, &po); s != NATS_OK) {
    // What is still pending is sent again with the round (the same Nats-Msg-Id).
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) {
      natsMsgList_Destroy(&pending);
    }
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

// One ordered consumer from the position on, until it fails, the connection is made again, a
// copy is not stored, or the node stops. Each batch goes to the log with the stream position it
// comes up to, at most kImportWait after its first message, and is stored before the next.
void EventReplication::import_once(std::int64_t from) {
  retired_subscriptions_.sweep();
  natsSubscription* sub = subscribe(from);
  if (sub == nullptr) {
    pause(kRetryPause);
    return;
  }
  const std::uint64_t generation = nats_.generation();
  ImportBatch batch;
  batch.position = from;
  bool failed = false;
  while (!failed && !stop_.load() && nats_.generation() == generation) {
    const auto wait = batch.due ? std::max<std::int64_t>(1, batch.due_in_ms()) : 250;
    NatsMsg m;
    const natsStatus s = natsSubscription_NextMsg(&m.msg, sub, wait);
    if (s == NATS_TIMEOUT) {
      failed = !flush(batch);
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
    const auto seq = static_cast<std::int64_t>(meta->Sequence.Stream);
    import_pending_.store(meta->NumPending);
    jsMsgMetaData_Destroy(meta);
    if (seq <= batch.position) {
      // nats.c restarts an ordered consumer that saw nothing yet from the stream's start: over
      // again from where this node is.
      logger()->info("cluster: the events stream came again from seq {} (copied up to {})", seq,
                     batch.position);
      break;
    }
    batch.take(seq, m, events_subject(node_));
    if (batch.events.size() >= kRound || batch.due_in_ms() <= 0) {
      failed = !flush(batch);
    }
  }
  if (!failed) {
    failed = !flush(batch);
  }
  if (failed) {
    // What was not stored is copied again from the position the log holds.
    auto stored = log_.position(kImportedPosition);
    imported_position_.store(stored ? *stored : imported_position_.load());
  }
  if (stop_.load()) {
    return;  // left to the connection's close, as the config store's watcher (nats.c 3.4.1)
  }
  retired_subscriptions_.retire(sub);  // not destroyed yet: RetiredSubscriptions says why
}

natsSubscription* EventReplication::subscribe(std::int64_t from) {
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
  auto jerr = static_cast<jsErrCode>(0);
  if (natsStatus s = js_SubscribeSync(&sub, nats_.js(), kEventsSubjects, nullptr, &so, &jerr);
      s != NATS_OK) {
    logger()->warn("{}", nats_error(s, "cluster: following the events stream").detail);
    return nullptr;
  }
  return sub;
}

void EventReplication::ImportBatch::take(std::int64_t seq, const NatsMsg& m,
                                         const std::string& own_subject) {
  if (!due) {
    due = Clock::now() + kImportWait;
  }
  position = seq;
  const std::string_view subject = natsMsg_GetSubject(m.msg);
  if (subject == own_subject) {
    return;  // this node's own event: in its log already
  }
  std::optional<events::JobInfo> job;
  auto e = decode(m.data(), &job);
  auto origin = decode_key(subject.substr(std::string_view("txmail.events.").size()));
  if (!e || !origin) {
    logger()->warn("cluster: events stream message {} is not a txmail event; skipped", seq);
    return;
  }
  e->origin = std::move(*origin);
  // "<node>/<seq in its log>" (publish_round): the number its notifications are read by.
  if (const char* id = nullptr; natsMsgHeader_Get(m.msg, "Nats-Msg-Id", &id) == NATS_OK) {
    const std::string_view text(id);
    const std::string_view number = text.substr(text.rfind('/') + 1);
    std::from_chars(number.data(), number.data() + number.size(), e->origin_seq);
  }
  newest_ts = std::max(newest_ts, e->ts_ms);
  events.push_back(std::move(*e));
  if (job) {
    jobs.push_back(std::move(*job));
  }
}

std::int64_t EventReplication::ImportBatch::due_in_ms() const {
  return due ? std::chrono::duration_cast<std::chrono::milliseconds>(*due - Clock::now()).count()
             : std::numeric_limits<std::int64_t>::max();
}

// The batch and its position to the log, waiting until they are stored; false when they were
// not (the copy starts over from the position the log holds).
bool EventReplication::flush(ImportBatch& batch) {
  if (batch.position == imported_position_.load()) {
    return true;
  }
  const std::size_t n = batch.events.size();
  std::promise<bool> stored;
  auto done = stored.get_future();
  log_.import(std::move(batch.events), std::move(batch.jobs), kImportedPosition, batch.position,
              [&stored](bool ok) { stored.set_value(ok); });
  batch.events.clear();
  batch.jobs.clear();
  batch.due.reset();
  if (!done.get()) {
    logger()->warn(
        "cluster: {} copied events were not stored; copying again from the log's "
        "position",
        n);
    return false;
  }
  imported_.fetch_add(n);
  if (batch.newest_ts > 0) {
    last_import_lag_ms_.store(std::max<std::int64_t>(0, now_ms() - batch.newest_ts));
  }
  batch.newest_ts = 0;
  imported_position_.store(batch.position);
  announce();
  return true;
}

}  // namespace txmail::cluster
