#include "cluster/region_hooks.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <initializer_list>

#include "cluster/key_codec.h"
#include "common/duration.h"
#include "common/log.h"

namespace txmail::cluster {

namespace {

constexpr int kFetchBatch = 128;
constexpr std::int64_t kFetchWaitMs = 1000;
constexpr std::size_t kErrorMax = 512;
constexpr std::chrono::milliseconds kHandedBackPause{200};
// Failed tries waiting for the keeper to store them again: the node fetches no more beyond it
// (an endpoint that fails at once must not pile them up in memory).
constexpr std::size_t kSettlingMax = std::size_t{4} * kFetchBatch;
constexpr int kRequeueTries = 3;

// Refusals of put()'s messages, counted by the library's error callback. One per process: the
// callback may still run after its context is gone (jsCtx_Destroy does not wait), so its
// closure is nothing that can be freed.
std::atomic<std::uint64_t> put_failures{0};

void on_put_error(jsCtx* /*js*/, jsPubAckErr* /*pae*/, void* /*closure*/) {
  put_failures.fetch_add(1);
}

std::string hooks_subject(const std::string& node) {
  return "txmail.hooks." + encode_key(node);
}

std::string dead_subject(const std::string& account) {
  return "txmail.hooksdead." + encode_key(account);
}

// A header value on one line: NATS headers end at CR LF.
std::string one_line(std::string_view text) {
  std::string out(text.substr(0, kErrorMax));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = ' ';
    }
  }
  return out;
}

std::int64_t number(const NatsMsg& m, const char* name) {
  const std::string v = m.header(name);
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  return ec == std::errc() && end == v.data() + v.size() ? n : -1;
}

using Headers = std::initializer_list<std::pair<const char*, const std::string*>>;

// Sets the headers in order, up to the first that fails.
natsStatus set_headers(natsMsg* m, Headers headers) {
  natsStatus s = NATS_OK;
  for (const auto& [name, value] : headers) {
    if (s == NATS_OK) {
      s = natsMsgHeader_Set(m, name, value->c_str());
    }
  }
  return s;
}

// The message of a batch (headers: who, for which job, where to), or null (logged).
natsMsg* batch_message(const std::string& subject, const std::string& account,
                       const std::string& job, const std::string& endpoint,
                       std::size_t notifications, std::string_view body) {
  natsMsg* m = nullptr;
  natsStatus s =
      natsMsg_Create(&m, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size()));
  const std::string count = std::to_string(notifications);
  if (s == NATS_OK) {
    s = set_headers(m, {{"Txmail-Account", &account},
                        {"Txmail-Job", &job},
                        {"Txmail-Endpoint", &endpoint},
                        {"Txmail-Notifications", &count}});
  }
  if (s != NATS_OK) {
    logger()->error("{}", nats_error(s, "webhooks: making a batch message").detail);
    natsMsg_Destroy(m);
    return nullptr;
  }
  return m;
}

// Where a batch stands in the stream, and when it was first queued (wall ms): a failed try's
// copy carries the first time in Txmail-Created.
struct Origin {
  std::uint64_t seq = 0;
  std::int64_t created_ms = 0;
};

Origin origin_of(const NatsMsg& m) {
  Origin o;
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, m.msg) == NATS_OK) {
    o.seq = meta->Sequence.Stream;
    o.created_ms = meta->Timestamp / 1000000;
    jsMsgMetaData_Destroy(meta);
  }
  if (const std::int64_t created = number(m, "Txmail-Created"); created > 0) {
    o.created_ms = created;
  }
  return o;
}

// A copy of the batch `original` (its body and who/where headers) with the `extra` headers,
// published to `subject`; returns once the region stored it.
natsStatus publish_copy(jsCtx* js, const NatsMsg& original, const std::string& subject,
                        Headers extra) {
  natsMsg* m = batch_message(
      subject, original.header("Txmail-Account"), original.header("Txmail-Job"),
      original.header("Txmail-Endpoint"),
      static_cast<std::size_t>(std::max<std::int64_t>(0, number(original, "Txmail-Notifications"))),
      original.data());
  natsStatus s = m != nullptr ? set_headers(m, extra) : NATS_ERR;
  jsPubAck* ack = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  if (s == NATS_OK) {
    s = js_PublishMsg(&ack, js, m, nullptr, &jerr);
  }
  jsPubAck_Destroy(ack);
  natsMsg_Destroy(m);
  return s;
}

}  // namespace

Result<std::unique_ptr<RegionHooks>> RegionHooks::open(NatsConnection& nats, std::string node,
                                                       UrlOf url_of, Taken taken) {
  std::unique_ptr<RegionHooks> h(
      new RegionHooks(nats, std::move(node), std::move(url_of), std::move(taken)));
  if (natsStatus s = js_KeyValue(&h->readers_, nats.js(), kReadersBucket); s != NATS_OK) {
    return tl::unexpected(nats_error(s, std::string("cluster: the bucket ") + kReadersBucket
                                            + " (made by `txmail cluster init`)"));
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = nats.options().timeout.count();
  jo.PublishAsync.MaxPending = std::int64_t{4} * kFetchBatch;
  // A round holds more batches than may be pending: a publish waits for room as long as an
  // acknowledgement may take, not the default 200 ms.
  jo.PublishAsync.StallWait = nats.options().timeout.count();
  jo.PublishAsync.ErrHandler = &on_put_error;
  if (natsStatus s = natsConnection_JetStream(&h->js_, nats.raw(), &jo); s != NATS_OK) {
    return tl::unexpected(nats_error(s, "cluster: webhook queue publisher"));
  }
  for (const char* stream : {kHooksStream, kHooksDeadStream}) {
    jsStreamInfo* si = nullptr;
    auto jerr = static_cast<jsErrCode>(0);
    if (natsStatus s = js_GetStreamInfo(&si, nats.js(), stream, nullptr, &jerr); s != NATS_OK) {
      return tl::unexpected(nats_error(
          s, std::string("cluster: the stream ") + stream + " (made by `txmail cluster init`)"));
    }
    jsStreamInfo_Destroy(si);
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = kHooksStream;
  so.Consumer = kHooksConsumer;  // bound, never made here: leaving it never deletes it
  auto jerr = static_cast<jsErrCode>(0);
  if (natsStatus s = js_PullSubscribe(&h->sub_, nats.js(), kHooksSubjects, kHooksConsumer, nullptr,
                                      &so, &jerr);
      s != NATS_OK) {
    return tl::unexpected(nats_error(s, std::string("cluster: the consumer ") + kHooksConsumer
                                            + " of " + kHooksStream
                                            + " (made by `txmail cluster init`)"));
  }
  h->count_dead();
  return h;
}

RegionHooks::~RegionHooks() {
  stop();
  if (sub_ != nullptr) {
    natsSubscription_Destroy(sub_);
  }
  jsCtx_Destroy(js_);
  kvStore_Destroy(readers_);
}

Result<void> RegionHooks::put(const std::string& origin,
                              std::vector<std::pair<std::string, events::QueuedBatch>> batches) {
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.MaxWait = nats_.options().timeout.count();
  const std::uint64_t failed_before = put_failures.load();
  const std::string& of = origin.empty() ? node_ : origin;
  const std::string subject = hooks_subject(of);
  for (const auto& [id, b] : batches) {
    natsMsg* m = batch_message(subject, b.account, b.job_id, b.endpoint, b.notifications, b.body);
    if (m == nullptr) {
      return make_error(ErrorCode::kInternal, "webhooks: a batch message could not be made");
    }
    const std::string msg_id = fmt::format("{}/{}", of, id);
    natsStatus s = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id.c_str());
    if (s == NATS_OK) {
      s = js_PublishMsgAsync(js_, &m, &po);  // the library owns m once sent
    }
    natsMsg_Destroy(m);
    if (s != NATS_OK) {
      return tl::unexpected(nats_error(s, "webhooks: queueing batches in the region"));
    }
  }
  if (natsStatus s = js_PublishAsyncComplete(js_, &po); s != NATS_OK) {
    natsMsgList pending{};  // sent again with the round (the same Nats-Msg-Id)
    if (js_PublishAsyncGetPendingList(&pending, js_) == NATS_OK) {
      natsMsgList_Destroy(&pending);
    }
    return tl::unexpected(nats_error(s, "webhooks: waiting for the region to store batches"));
  }
  if (put_failures.load() != failed_before) {
    return make_error(ErrorCode::kUnavailable, "webhooks: the region refused some batches");
  }
  return {};
}

namespace {

std::string reader_key(const std::string& node) {
  return "hooks/" + encode_key(node);
}

}  // namespace

Result<std::optional<events::HookQueue::ReaderPosition>> RegionHooks::reader_position(
    const std::string& node) {
  kvEntry* e = nullptr;
  const natsStatus s = kvStore_Get(&e, readers_, reader_key(node.empty() ? node_ : node).c_str());
  if (s == NATS_NOT_FOUND) {
    return std::nullopt;
  }
  if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, "webhooks: a reader position"));
  }
  ReaderPosition at;
  const std::string_view value(static_cast<const char*>(kvEntry_Value(e)),
                               static_cast<std::size_t>(kvEntry_ValueLen(e)));
  at.revision = kvEntry_Revision(e);
  const bool number =
      std::from_chars(value.data(), value.data() + value.size(), at.seq).ec == std::errc{};
  kvEntry_Destroy(e);  // `value` points into it: read first
  if (!number) {
    return make_error(ErrorCode::kCorrupt, "webhooks: a reader position is not a number");
  }
  return at;
}

Result<void> RegionHooks::reader_moved(std::int64_t seq) {
  const std::string value = std::to_string(seq);
  std::uint64_t rev = 0;
  if (natsStatus s = kvStore_PutString(&rev, readers_, reader_key(node_).c_str(), value.c_str());
      s != NATS_OK) {
    return tl::unexpected(nats_error(s, "webhooks: storing the reader position"));
  }
  return {};
}

Result<bool> RegionHooks::reader_moved(const std::string& node, std::int64_t seq,
                                       std::uint64_t revision) {
  const std::string value = std::to_string(seq);
  std::uint64_t rev = 0;
  if (kvStore_Update(&rev, readers_, reader_key(node).c_str(), value.data(),
                     static_cast<int>(value.size()), revision)
      == NATS_OK) {
    return true;
  }
  // Moved by another (the node came back), or the region did not answer: the next round
  // reads the position again.
  return false;
}

void RegionHooks::start(std::function<std::size_t(std::vector<events::QueuedBatch>)> take,
                        std::function<std::size_t()> room) {
  take_ = std::move(take);
  room_ = std::move(room);
  fetcher_ = std::thread([this] { fetch_loop(); });
  keeper_ = std::thread([this] { keeper_loop(); });
}

void RegionHooks::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stop_) {
      return;
    }
    stop_ = true;
  }
  cv_.notify_all();
  if (fetcher_.joinable()) {
    fetcher_.join();
  }
  if (keeper_.joinable()) {
    keeper_.join();
  }
  // What this node holds goes to another node now rather than after the acknowledgement wait.
  std::lock_guard lock(mutex_);
  for (auto& [handle, m] : held_) {
    natsMsg_Nak(m, nullptr);
    natsMsg_Destroy(m);
  }
  held_.clear();
  for (auto& d : settling_) {
    // A failed try not stored again yet: due after the schedule's wait all the same (uncounted).
    if (d.dead) {
      natsMsg_Nak(d.msg, nullptr);
    } else {
      natsMsg_NakWithDelay(d.msg, d.delay.count(), nullptr);
    }
    natsMsg_Destroy(d.msg);
  }
  settling_.clear();
}

std::size_t RegionHooks::settling() {
  std::lock_guard lock(mutex_);
  return settling_.size();
}

bool RegionHooks::pause(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return !cv_.wait_for(lock, d, [this] { return stop_; });
}

void RegionHooks::fetch_loop() {
  while (pause(std::chrono::milliseconds(0))) {
    if (!nats_.connected()) {
      pause(std::chrono::milliseconds(100));
      continue;
    }
    if (room_() == 0 || settling() >= kSettlingMax) {
      pause(std::chrono::milliseconds(20));
      continue;
    }
    fetch_once();
  }
}

bool RegionHooks::fetch_once() {
  const int n = static_cast<int>(std::min<std::size_t>(room_(), kFetchBatch));
  natsMsgList list{};
  auto jerr = static_cast<jsErrCode>(0);
  const natsStatus s = natsSubscription_Fetch(&list, sub_, n, kFetchWaitMs, &jerr);
  if (s == NATS_TIMEOUT) {
    return false;
  }
  if (s != NATS_OK) {
    logger()->warn("{}", nats_error(s, "webhooks: fetching from the region's queue").detail);
    pause(std::chrono::milliseconds(500));
    return false;
  }
  std::vector<events::QueuedBatch> batches;
  const std::int64_t now = now_ms();
  {
    std::lock_guard lock(mutex_);
    for (int i = 0; i < list.Count; ++i) {
      NatsMsg view;
      view.msg = list.Msgs[i];
      if (const std::int64_t due = number(view, "Txmail-Due"); due > now) {
        // A failed try's copy, fetched before its next try is due: no try, no room.
        view.msg = nullptr;
        natsMsg_NakWithDelay(list.Msgs[i], due - now, nullptr);
        continue;
      }
      events::QueuedBatch b;
      b.account = view.header("Txmail-Account");
      b.job_id = view.header("Txmail-Job");
      b.endpoint = view.header("Txmail-Endpoint");
      b.body = std::string(view.data());
      const std::int64_t count = number(view, "Txmail-Notifications");
      b.attempt = static_cast<int>(std::max<std::int64_t>(0, number(view, "Txmail-Tries")));
      jsMsgMetaData* meta = nullptr;
      const char* reply = natsMsg_GetReply(view.msg);
      view.msg = nullptr;  // still the list's
      if (b.job_id.empty() || b.endpoint.empty() || count < 0 || reply == nullptr
          || natsMsg_GetMetaData(&meta, list.Msgs[i]) != NATS_OK) {
        logger()->error("webhooks: a message of {} is not a batch; dropped", kHooksStream);
        natsMsg_Term(list.Msgs[i], nullptr);
        continue;
      }
      b.notifications = static_cast<std::size_t>(count);
      b.handed = static_cast<int>(meta->NumDelivered) - 1;
      jsMsgMetaData_Destroy(meta);
      b.handle = reply;
      held_[b.handle] = list.Msgs[i];
      list.Msgs[i] = nullptr;  // held now
      batches.push_back(std::move(b));
    }
  }
  natsMsgList_Destroy(&list);
  if (batches.empty()) {
    return false;
  }
  if (take_(std::move(batches)) == 0) {
    // Every one handed back (their lanes hold enough): a pause, so that walking past a large
    // backlog of one endpoint to reach the others' batches does not spin.
    pause(kHandedBackPause);
  }
  return true;
}

void RegionHooks::settle(const std::string& handle, Outcome outcome,
                         std::chrono::milliseconds delay, const std::string& error, int attempts) {
  natsMsg* m = nullptr;
  {
    std::lock_guard lock(mutex_);
    const auto it = held_.find(handle);
    if (it == held_.end()) {
      return;  // handed back at stop
    }
    m = it->second;
    held_.erase(it);
    // A try that failed (not a hand-back, which counts none): stored again by the keeper.
    if (outcome == Outcome::kDead || (outcome == Outcome::kRetry && attempts > 0)) {
      settling_.push_back(Settling{m, outcome == Outcome::kDead, delay, error, attempts});
      cv_.notify_all();
      return;
    }
  }
  // A settlement lost on the way (the connection is down) is redelivered: sent at least once.
  if (outcome == Outcome::kDone) {
    natsMsg_Ack(m, nullptr);
  } else if (delay.count() > 0) {
    natsMsg_NakWithDelay(m, delay.count(), nullptr);
  } else {
    natsMsg_Nak(m, nullptr);
  }
  natsMsg_Destroy(m);
}

void RegionHooks::keeper_loop() {
  auto next_keep = Clock::now() + kHooksKeepAlive;
  std::unique_lock lock(mutex_);
  while (!stop_) {
    cv_.wait_until(lock, next_keep, [this] { return stop_ || !settling_.empty(); });
    // Keep-alives first, and between failed tries stored again: a slow region must not let
    // what this node holds go to other nodes (sent twice) meanwhile.
    while (!stop_) {
      if (Clock::now() >= next_keep) {
        for (auto& [handle, m] : held_) {
          natsMsg_InProgress(m, nullptr);  // still this node's: not redelivered meanwhile
        }
        for (auto& d : settling_) {
          natsMsg_InProgress(d.msg, nullptr);
        }
        lock.unlock();
        count_dead();
        lock.lock();
        next_keep = Clock::now() + kHooksKeepAlive;
        continue;
      }
      if (settling_.empty()) {
        break;
      }
      Settling d = std::move(settling_.front());
      settling_.pop_front();
      lock.unlock();
      if (d.dead) {
        bury(d);
      } else {
        requeue(d);
      }
      lock.lock();
    }
  }
}

// The batch to the dead letters, then acknowledged; if the region does not store it, it comes
// back (its next failed try buries it again).
void RegionHooks::bury(Settling& d) {
  NatsMsg original;
  original.msg = d.msg;  // destroyed here
  const Origin o = origin_of(original);
  // Stored once however often it is buried; without its seq, its delivery's own name.
  const std::string id =
      o.seq != 0 ? fmt::format("dead/{}", o.seq) : "dead/" + std::string(natsMsg_GetReply(d.msg));
  const std::string tries = std::to_string(d.attempts);
  const std::string created = std::to_string(o.created_ms);
  const std::string error = one_line(d.error);
  const natsStatus s =
      publish_copy(nats_.js(), original, dead_subject(original.header("Txmail-Account")),
                   {{"Nats-Msg-Id", &id},
                    {"Txmail-Attempts", &tries},
                    {"Txmail-Created", &created},
                    {"Txmail-Error", &error}});
  if (s != NATS_OK) {
    logger()->error("{}", nats_error(s, "webhooks: keeping a dead letter in the region").detail);
    natsMsg_NakWithDelay(d.msg, 30000, nullptr);
    return;
  }
  natsMsg_Ack(d.msg, nullptr);
  dead_count_.fetch_add(1);
}

// A failed try: the batch stored again with its tries and when the next is due, then the one
// tried acknowledged. The copy's id is the tried message's seq: a node that dies in between
// leaves the original to another node, whose copy of it is then stored once.
void RegionHooks::requeue(Settling& d) {
  NatsMsg original;
  original.msg = d.msg;  // destroyed here
  const Origin o = origin_of(original);
  const std::string id = fmt::format("retry/{}", o.seq);
  const std::string tries = std::to_string(d.attempts);
  const std::string due = std::to_string(now_ms() + d.delay.count());
  const std::string created = std::to_string(o.created_ms);
  natsStatus s = NATS_ERR;
  // A few times with the same id (within the region's duplicate window): a copy stored whose
  // acknowledgement was lost is kept once, and a short stall of the region counts the try.
  for (int i = 0; i < kRequeueTries && o.seq != 0 && s != NATS_OK; ++i) {
    if (i > 0 && !pause(std::chrono::seconds(1))) {
      break;
    }
    s = publish_copy(nats_.js(), original, natsMsg_GetSubject(d.msg),
                     {{"Nats-Msg-Id", &id},
                      {"Txmail-Tries", &tries},
                      {"Txmail-Due", &due},
                      {"Txmail-Created", &created}});
  }
  if (s != NATS_OK) {
    // Tried again all the same, without this try counted.
    logger()->error("{}",
                    nats_error(s, "webhooks: storing a failed batch for its next try").detail);
    natsMsg_NakWithDelay(d.msg, d.delay.count(), nullptr);
    return;
  }
  natsMsg_Ack(d.msg, nullptr);
}

void RegionHooks::count_dead() {
  jsStreamInfo* si = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&si, nats_.js(), kHooksDeadStream, nullptr, &jerr) == NATS_OK) {
    dead_count_.store(si->State.Msgs);
    jsStreamInfo_Destroy(si);
  }
}

Result<std::vector<std::pair<events::DeadLetter, NatsMsg*>>> RegionHooks::read_dead(
    const std::string& account, std::size_t limit, std::vector<std::unique_ptr<NatsMsg>>& keep) {
  std::vector<std::pair<events::DeadLetter, NatsMsg*>> out;
  count_dead();
  if (dead_count_.load() == 0 || limit == 0) {
    return out;  // nothing to wait for
  }
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Ordered = true;
  so.Stream = kHooksDeadStream;
  so.Config.DeliverPolicy = js_DeliverAll;
  const std::string subject = account.empty() ? kHooksDeadSubjects : dead_subject(account);
  natsSubscription* sub = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  if (natsStatus s = js_SubscribeSync(&sub, nats_.js(), subject.c_str(), nullptr, &so, &jerr);
      s != NATS_OK) {
    return tl::unexpected(nats_error(s, "webhooks: reading the dead letters"));
  }
  while (out.size() < limit) {
    auto m = std::make_unique<NatsMsg>();
    // Nothing within the wait: the account has none (the stream holds others').
    if (natsSubscription_NextMsg(&m->msg, sub, kFetchWaitMs) != NATS_OK) {
      break;
    }
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, m->msg) != NATS_OK) {
      continue;
    }
    const std::uint64_t pending = meta->NumPending;
    events::DeadLetter d;
    d.id = static_cast<std::int64_t>(meta->Sequence.Stream);
    jsMsgMetaData_Destroy(meta);
    d.account = m->header("Txmail-Account");
    d.job_id = m->header("Txmail-Job");
    d.url = url_of_(m->header("Txmail-Endpoint"), d.job_id);
    d.attempts = static_cast<int>(number(*m, "Txmail-Attempts"));
    d.last_error = m->header("Txmail-Error");
    d.created_ms = number(*m, "Txmail-Created");
    d.notifications =
        static_cast<std::size_t>(std::max<std::int64_t>(0, number(*m, "Txmail-Notifications")));
    out.emplace_back(std::move(d), m.get());
    keep.push_back(std::move(m));
    if (pending == 0) {
      break;
    }
  }
  natsSubscription_Destroy(sub);
  return out;
}

Result<std::vector<events::DeadLetter>> RegionHooks::dead_letters(const std::string& account,
                                                                  std::size_t limit) {
  std::vector<std::unique_ptr<NatsMsg>> keep;
  auto read = read_dead(account, limit, keep);
  if (!read) {
    return tl::unexpected(read.error());
  }
  std::vector<events::DeadLetter> out;
  out.reserve(read->size());
  for (auto& [d, m] : *read) {
    out.push_back(std::move(d));
  }
  return out;
}

// Each dead letter back to the queue (a new batch: tried afresh), then out of the dead letters.
// One that cannot be queued stays a dead letter; one queued but not deleted is sent again by
// the next replay (at least once).
Result<std::size_t> RegionHooks::replay(const std::string& account) {
  constexpr std::size_t kReplayMax = 100000;
  std::vector<std::unique_ptr<NatsMsg>> keep;
  auto read = read_dead(account, kReplayMax, keep);
  if (!read) {
    return tl::unexpected(read.error());
  }
  std::size_t moved = 0;
  for (const auto& [d, dead] : *read) {
    natsMsg* m = batch_message(hooks_subject(node_), d.account, d.job_id,
                               dead->header("Txmail-Endpoint"), d.notifications, dead->data());
    natsStatus s = m != nullptr ? NATS_OK : NATS_ERR;
    const std::string id = fmt::format("replay/{}", d.id);  // dead seqs are never reused
    if (s == NATS_OK) {
      s = natsMsgHeader_Set(m, "Nats-Msg-Id", id.c_str());
    }
    jsPubAck* ack = nullptr;
    auto jerr = static_cast<jsErrCode>(0);
    if (s == NATS_OK) {
      s = js_PublishMsg(&ack, nats_.js(), m, nullptr, &jerr);
    }
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(m);
    if (s == NATS_OK) {
      s = js_DeleteMsg(nats_.js(), kHooksDeadStream, static_cast<std::uint64_t>(d.id), nullptr,
                       &jerr);
    }
    if (s != NATS_OK) {
      count_dead();
      return tl::unexpected(
          nats_error(s, fmt::format("webhooks: replay stopped after {} of {} dead letters", moved,
                                    read->size())));
    }
    ++moved;
  }
  count_dead();
  return moved;
}

}  // namespace txmail::cluster
