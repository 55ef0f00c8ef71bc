// JetStreamSpool, jobs taken over (issue site-2): a spool rebuilt from the stream, its
// messages read back (chunks reassembled and checked), and what a fenced node looks up.
#include <fmt/format.h>

#include <charconv>
#include <string_view>

#include "cluster/jetstream_spool.h"
#include "cluster/sha256.h"
#include "common/log.h"

namespace txmail::cluster {

namespace {

struct Sub {
  natsSubscription* sub = nullptr;

  Sub() = default;

  ~Sub() {
    if (sub != nullptr) {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
  }

  Sub(const Sub&) = delete;
  Sub& operator=(const Sub&) = delete;
  Sub(Sub&&) = delete;
  Sub& operator=(Sub&&) = delete;
};

std::uint64_t number(const std::string& text) {
  std::uint64_t n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

bool all_final(const std::vector<store::SpoolRecipient>& recipients) {
  return std::none_of(recipients.begin(), recipients.end(), [](const store::SpoolRecipient& r) {
    return r.status == store::RecipientStatus::kQueued;
  });
}

struct ReadOptions {
  bool last_per_subject = false;  // only the latest message of each subject
  bool headers_only = false;      // subjects, headers and sequences; no payload
};

// The server that leads `stream` now ("" when it has no leader or cannot be asked).
std::string stream_leader(jsCtx* js, const std::string& stream, jsOptions* jo) {
  jsStreamInfo* si = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&si, js, stream.c_str(), jo, &jerr) != NATS_OK) {
    return {};
  }
  std::string leader =
      si->Cluster != nullptr && si->Cluster->Leader != nullptr ? si->Cluster->Leader : "";
  jsStreamInfo_Destroy(si);
  return leader;
}

// nats-server 2.9 places an R1 consumer (an ordered one) on a random replica of the stream,
// and a follower may lag (a server just restarted still shows what the others removed, and
// lacks what they stored). Readers are created until one sits on the stream's leader.
constexpr int kReaderPlacements = 16;

// The sweep of the own generation: at most this often, and never more than a tenth of the time
// (a sweep reads a header of every part of every queued job).
constexpr std::chrono::seconds kSweepInterval{20};
constexpr int kSweepShare = 10;

// An ordered consumer of `subject` on the stream's leader, and how many messages it had to
// deliver when it was made.
Result<std::pair<std::unique_ptr<Sub>, std::uint64_t>> leader_reader(jsCtx* js,
                                                                     const std::string& stream,
                                                                     const std::string& subject,
                                                                     jsSubOptions& so,
                                                                     jsOptions& jo) {
  auto jerr = static_cast<jsErrCode>(0);
  for (int attempt = 0; attempt < kReaderPlacements; ++attempt) {
    auto sub = std::make_unique<Sub>();
    if (natsStatus s = js_SubscribeSync(&sub->sub, js, subject.c_str(), &jo, &so, &jerr);
        s != NATS_OK) {
      return tl::unexpected(nats_error(s, "cluster spool: reading " + subject));
    }
    jsConsumerInfo* ci = nullptr;
    if (natsStatus s = natsSubscription_GetConsumerInfo(&ci, sub->sub, &jo, &jerr); s != NATS_OK) {
      return tl::unexpected(nats_error(s, "cluster spool: reading " + subject));
    }
    const std::string at =
        ci->Cluster != nullptr && ci->Cluster->Leader != nullptr ? ci->Cluster->Leader : "";
    const std::uint64_t first = ci->NumPending + static_cast<std::uint64_t>(ci->NumAckPending);
    jsConsumerInfo_Destroy(ci);
    if (at.empty() || at == stream_leader(js, stream, &jo)) {
      return std::make_pair(std::move(sub), first);
    }
  }
  return make_error(ErrorCode::kUnavailable,
                    "cluster spool: reading " + subject + ": no reader on the stream's leader");
}

// Every message of the stream on `subject` (a filter), through an ordered consumer on the
// stream's leader.
Result<void> read_all(jsCtx* js, const std::string& stream, const std::string& subject,
                      ReadOptions how, std::chrono::milliseconds timeout,
                      const std::function<void(NatsMsg&)>& fn) {
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout.count();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = how.last_per_subject ? js_DeliverLastPerSubject : js_DeliverAll;
  so.Config.HeadersOnly = how.headers_only;
  auto placed = leader_reader(js, stream, subject, so, jo);
  if (!placed) {
    return tl::unexpected(placed.error());
  }
  Sub& sub = *placed->first;
  const std::uint64_t first = placed->second;
  auto jerr = static_cast<jsErrCode>(0);
  auto pending = [&]() -> Result<std::uint64_t> {
    jsConsumerInfo* ci = nullptr;
    if (natsStatus s = natsSubscription_GetConsumerInfo(&ci, sub.sub, &jo, &jerr); s != NATS_OK) {
      return tl::unexpected(nats_error(s, "cluster spool: reading " + subject));
    }
    const std::uint64_t left = ci->NumPending + static_cast<std::uint64_t>(ci->NumAckPending);
    jsConsumerInfo_Destroy(ci);
    return left;
  };
  int queued = 0;
  natsSubscription_GetPending(sub.sub, &queued, nullptr);
  if (first == 0 && queued == 0) {
    return {};  // nothing matches (an empty spool)
  }
  while (true) {
    NatsMsg m;
    natsStatus s = natsSubscription_NextMsg(&m.msg, sub.sub, timeout.count());
    if (s == NATS_TIMEOUT) {
      // What was counted may have been removed meanwhile: done if nothing is left.
      auto left = pending();
      if (left && *left == 0) {
        return {};
      }
      return make_error(ErrorCode::kUnavailable,
                        "cluster spool: reading " + subject + " timed out");
    }
    if (s != NATS_OK) {
      return tl::unexpected(nats_error(s, "cluster spool: reading " + subject));
    }
    jsMsgMetaData* meta = nullptr;
    std::uint64_t after = 1;
    if (natsMsg_GetMetaData(&meta, m.msg) == NATS_OK) {
      after = meta->NumPending;
      jsMsgMetaData_Destroy(meta);
    }
    fn(m);
    if (after == 0) {
      return {};
    }
  }
}

// The final states the stream holds for the record's job applied to it; deferrals were the
// former owner's, so every recipient left is due at once. How many recipients are final.
std::size_t apply_finals(store::SpoolRecord& r,
                         const std::map<std::string, std::vector<store::SpoolRecipient>>& finals) {
  if (auto f = finals.find(r.job_id);
      f != finals.end() && f->second.size() == r.recipients.size()) {
    for (std::size_t i = 0; i < r.recipients.size(); ++i) {
      if (f->second[i].status != store::RecipientStatus::kQueued) {
        r.recipients[i] = f->second[i];
      }
    }
  }
  std::size_t count = 0;
  for (auto& rc : r.recipients) {
    count += rc.status != store::RecipientStatus::kQueued ? 1 : 0;
    rc.next_attempt_ms = 0;
  }
  return count;
}

}  // namespace

Result<std::vector<JetStreamSpool::StreamRecord>> JetStreamSpool::read_records(
    const SpoolId& spool, bool with_messages, std::size_t& undecodable) {
  std::vector<StreamRecord> out;
  std::size_t corrupt = 0;
  auto r = read_all(js_, spool_stream(spool.site), job_subject(spool, "*") + ".m", {},
                    options_.timeout, [&](NatsMsg& m) {
                      auto record = store::decode(m.data());
                      if (!record) {
                        ++corrupt;
                        return;
                      }
                      StreamRecord sr{
                          .record = std::move(*record),
                          .chunks = static_cast<std::uint32_t>(number(m.header("Txmail-Chunks"))),
                          .size = number(m.header("Txmail-Size")),
                          .sha256 = m.header("Txmail-Sha256")};
                      if (!with_messages) {
                        sr.record.message.clear();
                        sr.record.message.shrink_to_fit();
                      }
                      out.push_back(std::move(sr));
                    });
  if (!r) {
    return tl::unexpected(r.error());
  }
  if (corrupt > 0) {
    logger()->error(
        "cluster: {} records of spool {} in the stream do not decode (damaged, or "
        "written by a newer release); skipped, and the spool is kept",
        corrupt, spool.text());
  }
  undecodable = corrupt;
  return out;
}

Result<std::map<std::string, std::vector<store::SpoolRecipient>>> JetStreamSpool::read_finals(
    const SpoolId& spool) {
  std::map<std::string, std::vector<store::SpoolRecipient>> out;
  auto r = read_all(js_, spool_stream(spool.site), job_subject(spool, "*") + ".f",
                    {.last_per_subject = true}, options_.timeout, [&](NatsMsg& m) {
                      auto parsed = parse_part_subject(spool, natsMsg_GetSubject(m.msg));
                      auto recipients = store::decode_recipients(m.data());
                      if (!parsed || !recipients) {
                        return;
                      }
                      if (!m.header(kDoneHeader).empty()) {
                        for (auto& rc : *recipients) {
                          if (rc.status == store::RecipientStatus::kQueued) {
                            rc.status = store::RecipientStatus::kDelivered;  // finished there
                          }
                        }
                      }
                      out[parsed->job_id] = std::move(*recipients);
                    });
  if (!r) {
    return tl::unexpected(r.error());
  }
  return out;
}

Result<std::vector<std::uint64_t>> JetStreamSpool::stream_sequences(const SpoolId& spool,
                                                                    const std::string& filter,
                                                                    bool keep_finals) {
  std::vector<std::uint64_t> out;
  auto r = read_all(js_, spool_stream(spool.site), filter, {.headers_only = true}, options_.timeout,
                    [&](NatsMsg& m) {
                      if (keep_finals) {
                        auto parsed = parse_part_subject(spool, natsMsg_GetSubject(m.msg));
                        if (parsed && parsed->part == Part::kFinals) {
                          return;
                        }
                      }
                      jsMsgMetaData* meta = nullptr;
                      if (natsMsg_GetMetaData(&meta, m.msg) == NATS_OK) {
                        out.push_back(meta->Sequence.Stream);
                        jsMsgMetaData_Destroy(meta);
                      }
                    });
  if (!r) {
    return tl::unexpected(r.error());
  }
  return out;
}

namespace {

// nats-server 2.9.10 answers the delete of a sequence already gone with 10043 while the file
// block that held it remains, and with the generic "stream msg delete failed" (10057) and the
// store's "no message found" once that block went with its last message: e.g. the deletes of a
// chunked job sent again after an answer was lost while the stream's leader moved.
bool deleted_already(jsErrCode jerr) {
  if (jerr != JSStreamMsgDeleteFailed) {
    return false;
  }
  const char* detail = nats_GetLastError(nullptr);
  return detail != nullptr
         && std::string_view(detail).find("no message found") != std::string_view::npos;
}

}  // namespace

Result<std::size_t> JetStreamSpool::delete_sequences(const std::string& site,
                                                     const std::vector<std::uint64_t>& sequences,
                                                     const std::string& what) {
  std::size_t missing = 0;
  const std::string stream = spool_stream(site);
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = options_.timeout.count();
  for (const std::uint64_t seq : sequences) {
    auto jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_DeleteMsg(js_, stream.c_str(), seq, &jo, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSSequenceNotFoundErr || jerr == JSNoMessageFoundErr
        || deleted_already(jerr)) {
      ++missing;  // gone already, or replaced by a newer message on its subject
      continue;
    }
    if (s != NATS_OK) {
      return tl::unexpected(
          nats_error(s, fmt::format("cluster spool: removing {} from {}", what, stream)));
    }
  }
  return missing;
}

Result<JetStreamSpool::InStream> JetStreamSpool::look_up(const SpoolId& spool,
                                                         const std::string& job_id) {
  auto last = [&](Part part, NatsMsg& m) {
    auto jerr = static_cast<jsErrCode>(0);
    return js_GetLastMsg(&m.msg, js_, spool_stream(spool.site).c_str(),
                         part_subject(spool, job_id, part).c_str(), nullptr, &jerr);
  };
  NatsMsg record;
  natsStatus s = last(Part::kRecord, record);
  if (s == NATS_OK) {
    return InStream::kRecord;
  }
  if (s != NATS_NOT_FOUND) {
    return tl::unexpected(nats_error(s, "cluster spool: looking up job " + job_id));
  }
  NatsMsg finals;
  s = last(Part::kFinals, finals);
  if (s == NATS_NOT_FOUND) {
    return InStream::kAbsent;
  }
  if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, "cluster spool: looking up job " + job_id));
  }
  // Final states without a record: finished (marked done, or every recipient final). A job
  // whose record only this node had (on_quorum_loss = "local") may have some final states
  // published and others not: it is not finished, and stays.
  auto recipients = store::decode_recipients(finals.data());
  if (!finals.header(kDoneHeader).empty() || (recipients && all_final(*recipients))) {
    return InStream::kFinished;
  }
  return InStream::kAbsent;
}

Result<store::SpoolRecord> JetStreamSpool::read_adopted(const Adopted& job) {
  SpoolId spool;
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(job.spool_key);
    if (it == held_.end()) {
      return make_error(ErrorCode::kNotFound, "job " + job.head.job_id + ": its spool is gone");
    }
    spool = it->second.id;
  }
  auto read = [&](Part part, std::uint32_t n, NatsMsg& m) -> Result<void> {
    auto jerr = static_cast<jsErrCode>(0);
    const std::string subject = part_subject(spool, job.head.job_id, part, n);
    natsStatus s = js_GetLastMsg(&m.msg, js_, spool_stream(spool.site).c_str(), subject.c_str(),
                                 nullptr, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
      return make_error(ErrorCode::kNotFound, "cluster spool: " + subject + " has left the stream");
    }
    if (s != NATS_OK) {
      return tl::unexpected(nats_error(s, "cluster spool: reading " + subject));
    }
    return {};
  };
  NatsMsg record;
  if (auto r = read(Part::kRecord, 0, record); !r) {
    return tl::unexpected(r.error());
  }
  auto decoded = store::decode(record.data());
  if (!decoded) {
    return tl::unexpected(decoded.error());
  }
  decoded->recipients = job.head.recipients;
  if (job.chunks == 0) {
    return std::move(*decoded);
  }
  std::string message;
  message.reserve(job.size);
  Sha256 sha;
  for (std::uint32_t i = 0; i < job.chunks; ++i) {
    NatsMsg chunk;
    if (auto r = read(Part::kChunk, i, chunk); !r) {
      return tl::unexpected(r.error());
    }
    const auto data = chunk.data();
    sha.update(data);
    message.append(data);
  }
  if (message.size() != job.size || sha.hex() != job.sha256) {
    return make_error(ErrorCode::kCorrupt, fmt::format("job {}: its {} chunks do not make the "
                                                       "message its record describes",
                                                       job.head.job_id, job.chunks));
  }
  decoded->message = std::move(message);
  return std::move(*decoded);
}

Result<void> JetStreamSpool::adopt(const std::string& key, bool poll) {
  const auto started = Clock::now();
  SpoolId spool;
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(key);
    if (it == held_.end() || !started_) {
      return {};
    }
    spool = it->second.id;
  }
  auto finals = read_finals(spool);
  if (!finals) {
    return tl::unexpected(finals.error());
  }
  std::size_t undecodable = 0;
  auto records = read_records(spool, false, undecodable);
  if (!records) {
    return tl::unexpected(records.error());
  }
  std::vector<store::SpoolRecord> batch;
  std::vector<std::string> finished;
  {
    std::lock_guard lock(mutex_);
    auto it = held_.find(key);
    if (it == held_.end()) {
      return {};  // lost meanwhile
    }
    for (auto& sr : *records) {
      auto& r = sr.record;
      if (adopted_.contains(r.job_id) || finished_adopted_.contains(r.job_id)
          || fenced_jobs_.contains(r.job_id)) {
        continue;
      }
      const std::size_t final_count = apply_finals(r, *finals);
      if (final_count == r.recipients.size()) {
        finished.push_back(r.job_id);  // finished there; the record had not left yet
        finished_adopted_.insert(r.job_id);
        continue;
      }
      adopted_[r.job_id] = Adopted{.spool_key = key,
                                   .head = r,
                                   .chunks = sr.chunks,
                                   .size = sr.size,
                                   .sha256 = sr.sha256,
                                   .finals_sent = final_count};
      adopted_[r.job_id].head.job_data.clear();  // the hook has it (below); the head need not
      batch.push_back(std::move(r));
    }
    it->second.rebuilt = true;
    // Records of jobs finished here count as gone: their removal was done, and a server
    // restarted without a clean stop may show a removed message again.
    it->second.empty_in_stream =
        undecodable == 0
        && std::all_of(records->begin(), records->end(), [this](const StreamRecord& sr) {
             return finished_adopted_.contains(sr.record.job_id);
           });
    for (const auto& job : finished) {
      deletions_.push_back(
          {.job_id = job, .spool = spool, .what = Deletion::What::kKeepFinals, .done = [](auto) {
           }});
    }
  }
  deleter_cv_.notify_one();
  if (batch.empty()) {
    if (!poll) {
      logger()->info("cluster: spool {} has no job left to deliver", spool.text());
    }
    return {};
  }
  adopted_jobs_.fetch_add(batch.size());
  logger()->warn(
      "cluster: {} jobs of spool {} taken over ({} records read in {} ms)", batch.size(),
      spool.text(), records->size(),
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
  hooks_.adopt(std::move(batch));
  return {};
}

bool JetStreamSpool::sweep_due(Clock::time_point now) const {
  return scanned_ && now >= next_sweep_;
}

void JetStreamSpool::sweep_orphans() {
  const auto started = Clock::now();
  const SpoolId spool = intake();
  std::unordered_set<std::string> pending;  // deletions queued when the sweep began
  {
    std::lock_guard lock(mutex_);
    for (const auto& d : deletions_) {
      pending.insert(d.job_id);
    }
  }
  // Every job of the site's stream: the own generation's, each to be accounted for here, and
  // the other spools', by owner key. A job's state here is read after its subject in the
  // stream: a put is known here before its first part is published, so a job of the own
  // generation found and unknown is finished, refused or foreign.
  std::set<std::string> unaccounted;
  std::map<std::string, SweptSpool> others;
  auto r =
      read_all(js_, spool_stream(spool.site), spool_stream_subjects(spool.site),
               {.last_per_subject = true, .headers_only = true}, options_.timeout, [&](NatsMsg& m) {
                 auto found = parse_spool_subject(natsMsg_GetSubject(m.msg));
                 if (!found || pending.contains(found->job_id)) {
                   return;
                 }
                 if (!(found->spool == spool)) {
                   auto& other = others[owner_key(found->spool)];
                   other.spool = found->spool;
                   other.jobs.insert(std::move(found->job_id));
                   return;
                 }
                 std::string& job = found->job_id;
                 std::lock_guard lock(mutex_);
                 if (!local_jobs_.contains(job) && !publishing_.contains(job)
                     && !local_only_.contains(job) && !fenced_jobs_.contains(job)) {
                   unaccounted.insert(std::move(job));
                 }
               });
  next_sweep_ = Clock::now()
                + std::max<Clock::duration>(kSweepInterval, (Clock::now() - started) * kSweepShare);
  if (!r) {
    logger()->debug("cluster: sweeping spool stream {}: {}", spool_stream(spool.site),
                    r.error().detail);
    return;
  }
  if (!(intake() == spool) || reconciling_) {
    return;  // fenced meanwhile: that generation is sorted out by reconcile()
  }
  remove_retired(others);
  remove_orphans(spool, unaccounted);
}

void JetStreamSpool::remove_orphans(const SpoolId& spool,
                                    const std::set<std::string>& unaccounted) {
  std::unordered_set<std::string> suspects;
  std::vector<std::string> orphans;
  for (const auto& job : unaccounted) {
    if (auto local = local_.get(job); !local || *local) {
      continue;  // on the local disk (or unreadable there): never taken for an orphan
    }
    // Seen twice a sweep apart: not a put or a removal on its way.
    if (swept_ == spool && suspects_.contains(job)) {
      orphans.push_back(job);
    } else {
      suspects.insert(job);
    }
  }
  swept_ = spool;
  suspects_ = std::move(suspects);
  if (orphans.empty()) {
    return;
  }
  logger()->warn(
      "cluster: {} jobs left in the stream by spool {} with nothing here for them "
      "(e.g. {}): removing them",
      orphans.size(), spool.text(), orphans.front());
  remove_from_stream(spool, std::move(orphans));
}

void JetStreamSpool::remove_retired(const std::map<std::string, SweptSpool>& others) {
  for (const auto& [key, other] : others) {
    {
      std::lock_guard lock(mutex_);
      // Held here, or its node may still write it (not known to have moved on): not retired.
      std::uint64_t current = 0;
      if (other.spool.node == options_.node) {
        current = intake_.generation;
      } else if (auto g = node_generation_.find(other.spool.node); g != node_generation_.end()) {
        current = g->second;
      }
      if (held_.contains(key) || current <= other.spool.generation) {
        continue;
      }
    }
    // Positive evidence only: the owner key's last change is the retirement's delete marker (a
    // key missing from a lagging replica is no proof of anything).
    auto erased = owners_->fresh_erased(key);
    if (!erased || !*erased) {
      continue;
    }
    logger()->warn(
        "cluster: {} jobs of spool {}, retired, are in the stream again (e.g. {}; a replica "
        "that missed their removal leads it now): removing them",
        other.jobs.size(), other.spool.text(), *other.jobs.begin());
    remove_from_stream(other.spool, {other.jobs.begin(), other.jobs.end()});
  }
}

void JetStreamSpool::remove_from_stream(const SpoolId& spool, std::vector<std::string> jobs) {
  orphans_removed_.fetch_add(jobs.size(), std::memory_order_relaxed);
  {
    std::lock_guard lock(mutex_);
    for (auto& job : jobs) {
      deletions_.push_back({.job_id = std::move(job),
                            .spool = spool,
                            .what = Deletion::What::kStreamOnly,
                            .done = [](auto) {
                            }});
    }
  }
  deleter_cv_.notify_all();
}

}  // namespace txmail::cluster
