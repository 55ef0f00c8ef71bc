// `txmail cluster init` and `txmail cluster status`: the region's buckets, made once at
// provisioning (NATS.md section 1: R3 assets cannot be placed while a site is down) and shown
// with their leaders and replicas.
#include <fmt/format.h>

#include <algorithm>
#include <boost/json.hpp>
#include <set>
#include <thread>

#include "cluster/cluster.h"
#include "cluster/event_replication.h"
#include "cluster/key_codec.h"
#include "cluster/kv_config_store.h"
#include "cluster/nats_connection.h"
#include "cluster/region_hooks.h"
#include "cluster/spool_subjects.h"
#include "common/duration.h"

namespace txmail::cluster {

NatsOptions nats_options(const ClusterOptions& o);  // cluster_node.cc

namespace {

namespace json = boost::json;

struct Bucket {
  const char* name = nullptr;
  const char* holds = nullptr;
  std::int64_t ttl_ns = 0;  // 0: values never expire
  // Keeps a "cluster/created" entry: the config bucket is never empty, as a conditional write
  // names the stream's last sequence, which nats.c cannot say is 0 (KvConfigStore::publish).
  bool marker = false;
};

// Every bucket of a region. The nodes bucket forgets a node 30 s after its last heartbeat, the
// idempotency bucket a key 24 h after its last change, the rates bucket a count 11 minutes
// after (two 5-minute windows and some).
constexpr Bucket kBuckets[] = {
    {kConfigBucket, "accounts, API key hashes, sender domains, sealed DKIM keys, webhook endpoints",
     0, true},
    {kNodesBucket, "heartbeats of serving nodes", 30'000'000'000LL},
    {kSpoolsBucket, "owners of the nodes' spools (the revision is the fencing token)", 0, true},
    {kIdempotencyBucket, "Idempotency-Key answers of POST /v2/jobs", 24LL * 3600 * 1'000'000'000},
    {kRatesBucket, "each node's count of requests per account and 5-minute window (hourly limit)",
     11LL * 60 * 1'000'000'000},
    {kReadersBucket,
     "how far each node's events were made into push notification batches (taken over with a "
     "dead node's spool)",
     0},
};

struct StreamInfo {
  jsStreamInfo* si = nullptr;

  StreamInfo() = default;

  ~StreamInfo() { jsStreamInfo_Destroy(si); }

  StreamInfo(const StreamInfo&) = delete;
  StreamInfo& operator=(const StreamInfo&) = delete;
  StreamInfo(StreamInfo&&) = delete;
  StreamInfo& operator=(StreamInfo&&) = delete;
};

std::string describe(const Bucket& b, int replicas) {
  return fmt::format(
      "KV bucket {} (stream KV_{}, R{}, file storage, history 1{}): {}", b.name, b.name, replicas,
      b.ttl_ns > 0 ? fmt::format(", values expire after {} s", b.ttl_ns / 1'000'000'000) : "",
      b.holds);
}

std::string describe_spool(const std::string& site, int replicas) {
  return fmt::format(
      "stream {} (subjects {}, R{}, file storage, one message per subject, duplicates window "
      "{} s, no limits that drop messages): the spooled jobs of site {}'s nodes",
      spool_stream(site), spool_stream_subjects(site), replicas, kSpoolDuplicates.count(), site);
}

// What this run asked to create: found existing on a later attempt (the first answer lost), it
// is still reported created.
using Asked = std::set<std::string>;

const char* found(const Asked& asked, const std::string& name) {
  return asked.contains(name) ? "created: " : "exists: ";
}

constexpr std::chrono::milliseconds kPatience = std::chrono::seconds(60);

constexpr const char* kPlacementHint =
    " (R3 needs all three sites up, each server tagged site:<name> with unique_tag \"site:\")";

// Creates a stream of `sc`, its replicas spread over the sites by the servers' unique_tag.
Result<void> add_stream(NatsConnection& nats, jsStreamConfig& sc, Asked& asked) {
  asked.insert(sc.Name);
  jsPlacement placement;
  jsPlacement_Init(&placement);
  placement.Cluster = "";  // NULL would crash nats.c 3.4.1 (NATS.md section 1)
  sc.Placement = &placement;
  StreamInfo created;
  auto jerr = static_cast<jsErrCode>(0);
  if (natsStatus s = js_AddStream(&created.si, nats.js(), &sc, nullptr, &jerr); s != NATS_OK) {
    return tl::unexpected(
        nats_error(s, std::string("cluster init: stream ") + sc.Name + kPlacementHint));
  }
  return {};
}

// One spool stream per data site (issue site-2). Nothing may ever drop an accepted job: no age,
// count or size limit, and a full store refuses new jobs (Discard new) instead of forgetting
// old ones. Its three replicas go to three sites through the servers' unique_tag "site:".
Result<std::string> provision_spool(NatsConnection& nats, const ClusterOptions& options,
                                    const std::string& site, bool dry_run, Asked& asked) {
  const std::string name = spool_stream(site);
  StreamInfo info;
  auto jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info.si, nats.js(), name.c_str(), nullptr, &jerr);
  if (s == NATS_OK && asked.contains(name)) {
    return "created: " + describe_spool(site, options.replicas);
  }
  if (s == NATS_OK) {
    const std::int64_t have = info.si->Config->Replicas;
    return fmt::format("exists: stream {} (R{}){}", name, have,
                       have != options.replicas ? fmt::format(
                           " -- cluster.replicas asks for R{}; not changed", options.replicas)
                                                : "");
  }
  if (s != NATS_NOT_FOUND) {
    return tl::unexpected(nats_error(s, "cluster init: stream " + name));
  }
  if (dry_run) {
    return "would create: " + describe_spool(site, options.replicas);
  }
  const std::string subjects = spool_stream_subjects(site);
  const char* subject_list[] = {subjects.c_str()};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = name.c_str();
  sc.Subjects = subject_list;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Replicas = options.replicas;
  sc.Retention = js_LimitsPolicy;
  sc.Discard = js_DiscardNew;
  sc.MaxMsgs = -1;
  sc.MaxBytes = -1;
  sc.MaxAge = 0;
  sc.MaxMsgsPerSubject = 1;
  sc.MaxMsgSize = kSpoolMaxMsgSize;
  sc.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(kSpoolDuplicates).count();
  sc.AllowDirect = true;
  if (auto added = add_stream(nats, sc, asked); !added) {
    return tl::unexpected(added.error());
  }
  return "created: " + describe_spool(site, options.replicas);
}

std::string describe_events(int replicas) {
  return fmt::format(
      "stream {} (subjects {}, R{}, file storage, duplicates window {} s, events older than {} "
      "days dropped): every node's events, copied by each node into its own log",
      kEventsStream, kEventsSubjects, replicas, kSpoolDuplicates.count(),
      kEventsMaxAge.count() / 24);
}

// The region's events (issue site-3, item 1): one stream for every node's events. Unlike the
// spools it may forget: an event older than the retention is of no use to anyone.
Result<std::string> provision_events(NatsConnection& nats, const ClusterOptions& options,
                                     bool dry_run, Asked& asked) {
  StreamInfo info;
  auto jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info.si, nats.js(), kEventsStream, nullptr, &jerr);
  if (s == NATS_OK && asked.contains(kEventsStream)) {
    return "created: " + describe_events(options.replicas);
  }
  if (s == NATS_OK) {
    return fmt::format("exists: stream {} (R{})", kEventsStream, info.si->Config->Replicas);
  }
  if (s != NATS_NOT_FOUND) {
    return tl::unexpected(nats_error(s, std::string("cluster init: stream ") + kEventsStream));
  }
  if (dry_run) {
    return "would create: " + describe_events(options.replicas);
  }
  const char* subject_list[] = {kEventsSubjects};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = kEventsStream;
  sc.Subjects = subject_list;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  sc.Replicas = options.replicas;
  sc.Retention = js_LimitsPolicy;
  sc.Discard = js_DiscardOld;
  sc.MaxAge = std::chrono::duration_cast<std::chrono::nanoseconds>(kEventsMaxAge).count();
  // Bounded in bytes too: the spools share the servers' file store, and intake must never stop
  // for want of room the events took.
  sc.MaxBytes = kEventsMaxBytes;
  sc.MaxMsgSize = 1 << 20;
  sc.Duplicates = std::chrono::duration_cast<std::chrono::nanoseconds>(kSpoolDuplicates).count();
  if (auto added = add_stream(nats, sc, asked); !added) {
    return tl::unexpected(added.error());
  }
  return "created: " + describe_events(options.replicas);
}

Result<bool> stream_exists(NatsConnection& nats, const char* name) {
  StreamInfo info;
  auto jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info.si, nats.js(), name, nullptr, &jerr);
  if (s == NATS_OK || s == NATS_NOT_FOUND) {
    return s == NATS_OK;
  }
  return tl::unexpected(nats_error(s, std::string("cluster init: stream ") + name));
}

// The region's push notification queue (issue site-3, item 2): the batches wait in a
// work-queue stream (gone once acknowledged; a full store refuses new ones, which then wait in
// their node's event log), their dead letters in a second stream, and one durable consumer
// hands them to the nodes.
Result<std::vector<std::string>> provision_hooks(NatsConnection& nats,
                                                 const ClusterOptions& options, bool dry_run,
                                                 Asked& asked) {
  std::vector<std::string> lines;
  bool queue_exists = false;
  const auto dup = std::chrono::duration_cast<std::chrono::nanoseconds>(kSpoolDuplicates).count();
  for (const bool dead : {false, true}) {
    const char* name = dead ? kHooksDeadStream : kHooksStream;
    const char* subjects = dead ? kHooksDeadSubjects : kHooksSubjects;
    const std::string what = fmt::format(
        "stream {} (subjects {}, R{}, file storage, {})", name, subjects, options.replicas,
        dead ? "limits retention, at most 256 MiB: the region's webhook dead letters"
             : "work-queue retention, at most 1 GiB: webhook batches waiting to be sent");
    auto exists = stream_exists(nats, name);
    if (!exists) {
      return tl::unexpected(exists.error());
    }
    queue_exists = queue_exists || (!dead && *exists);
    if (*exists || dry_run) {
      lines.push_back((*exists ? found(asked, name) : "would create: ") + what);
      continue;
    }
    const char* subject_list[] = {subjects};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Subjects = subject_list;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Replicas = options.replicas;
    sc.Retention = dead ? js_LimitsPolicy : js_WorkQueuePolicy;
    sc.Discard = dead ? js_DiscardOld : js_DiscardNew;
    sc.MaxBytes = dead ? std::int64_t{256} << 20 : std::int64_t{1} << 30;
    sc.Duplicates = dup;
    if (auto added = add_stream(nats, sc, asked); !added) {
      return tl::unexpected(added.error());
    }
    lines.push_back("created: " + what);
  }
  const std::string what =
      fmt::format("consumer {} of {} (durable, shared by every node; acknowledgement wait {} s)",
                  kHooksConsumer, kHooksStream, kHooksAckWait.count());
  if (dry_run && !queue_exists) {
    lines.push_back("would create: " + what);
    return lines;
  }
  jsConsumerInfo* ci = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetConsumerInfo(&ci, nats.js(), kHooksStream, kHooksConsumer, nullptr, &jerr);
  jsConsumerInfo_Destroy(ci);
  if (s == NATS_OK || (s == NATS_NOT_FOUND && dry_run)) {
    lines.push_back((s == NATS_OK ? found(asked, kHooksConsumer) : "would create: ") + what);
    return lines;
  }
  if (s != NATS_NOT_FOUND) {
    return tl::unexpected(nats_error(s, std::string("cluster init: consumer ") + kHooksConsumer));
  }
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = kHooksConsumer;
  cc.AckPolicy = js_AckExplicit;
  cc.DeliverPolicy = js_DeliverAll;
  cc.AckWait = std::chrono::duration_cast<std::chrono::nanoseconds>(kHooksAckWait).count();
  cc.MaxDeliver = -1;  // the nodes decide when a batch is dead
  cc.MaxAckPending = kHooksMaxAckPending;
  cc.FilterSubject = kHooksSubjects;
  asked.insert(kHooksConsumer);
  s = js_AddConsumer(&ci, nats.js(), kHooksStream, &cc, nullptr, &jerr);
  jsConsumerInfo_Destroy(ci);
  if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, std::string("cluster init: consumer ") + kHooksConsumer));
  }
  lines.push_back("created: " + what);
  return lines;
}

// The streams: each site's spool, the events, the push notification queue.
Result<void> provision_streams(NatsConnection& nats, const ClusterOptions& options, bool dry_run,
                               std::vector<std::string>& lines, Asked& asked) {
  for (const auto& site : options.sites) {
    auto line = provision_spool(nats, options, site, dry_run, asked);
    if (!line) {
      return tl::unexpected(line.error());
    }
    lines.push_back(std::move(*line));
  }
  auto events = provision_events(nats, options, dry_run, asked);
  if (!events) {
    return tl::unexpected(events.error());
  }
  lines.push_back(std::move(*events));
  auto hooks = provision_hooks(nats, options, dry_run, asked);
  if (!hooks) {
    return tl::unexpected(hooks.error());
  }
  lines.insert(lines.end(), hooks->begin(), hooks->end());
  return {};
}

// Each data site's server name (a site's spool stream is kept led from it): a stream of one
// replica placed by the tag site:<s> lands on that site's server, which it names as leader.
Result<std::string> find_servers(NatsConnection& nats, const ClusterOptions& options) {
  json::object servers;
  for (const auto& site : options.sites) {
    const std::string name = "TXMAIL_PROBE_" + site;
    const std::string subject = "txmail.probe." + site;
    const std::string tag = "site:" + site;
    const char* subjects[] = {subject.c_str()};
    const char* tags[] = {tag.c_str()};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name.c_str();
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_MemoryStorage;
    sc.Replicas = 1;
    jsPlacement placement;
    jsPlacement_Init(&placement);
    placement.Cluster = "";
    placement.Tags = tags;
    placement.TagsLen = 1;
    sc.Placement = &placement;
    StreamInfo info;
    auto jerr = static_cast<jsErrCode>(0);
    natsStatus s = js_AddStream(&info.si, nats.js(), &sc, nullptr, &jerr);
    if (s != NATS_OK) {
      return tl::unexpected(nats_error(s, "cluster init: finding site " + site + "'s server"));
    }
    const auto* c = info.si->Cluster;
    servers[site] = c != nullptr && c->Leader != nullptr ? c->Leader : "";
    js_DeleteStream(nats.js(), name.c_str(), nullptr, &jerr);
  }
  kvStore* kv = nullptr;
  if (natsStatus s = js_KeyValue(&kv, nats.home_js(), kConfigBucket); s != NATS_OK) {
    return tl::unexpected(nats_error(s, "cluster init: the config bucket"));
  }
  const std::string value = json::serialize(servers);
  std::uint64_t rev = 0;
  natsStatus s = kvStore_Put(&rev, kv, kServersKey, value.data(), static_cast<int>(value.size()));
  kvStore_Destroy(kv);
  if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, "cluster init: recording the sites' servers"));
  }
  return "recorded: each site's server " + value
         + " (a site's spool stream is kept led from its own site)";
}

// Writes the marker unless the bucket has it: a bucket whose creation was answered too late
// (an attempt given up, then found existing) gets it too.
Result<void> ensure_marker(NatsConnection& nats, const ClusterOptions& options, const Bucket& b) {
  kvStore* kv = nullptr;
  natsStatus s = js_KeyValue(&kv, nats.js(), b.name);
  if (kvEntry* entry = nullptr; s == NATS_OK) {
    s = kvStore_Get(&entry, kv, "cluster/created");
    kvEntry_Destroy(entry);
  }
  if (s == NATS_NOT_FOUND) {
    const std::string marker =
        json::serialize(json::object{{"region", options.region}, {"created", now_ms()}});
    std::uint64_t rev = 0;
    s = kvStore_Create(&rev, kv, "cluster/created", marker.data(), static_cast<int>(marker.size()));
  }
  kvStore_Destroy(kv);
  if (s != NATS_OK) {
    return tl::unexpected(nats_error(s, std::string("cluster init: the first entry of ") + b.name));
  }
  return {};
}

Result<std::string> provision_bucket(NatsConnection& nats, const ClusterOptions& options,
                                     const Bucket& b, bool dry_run, Asked& asked) {
  StreamInfo info;
  auto jerr = static_cast<jsErrCode>(0);
  const std::string stream = std::string("KV_") + b.name;
  natsStatus s = js_GetStreamInfo(&info.si, nats.js(), stream.c_str(), nullptr, &jerr);
  if (s != NATS_OK && s != NATS_NOT_FOUND) {
    return tl::unexpected(nats_error(s, "cluster init: stream " + stream));
  }
  if (s == NATS_NOT_FOUND && dry_run) {
    return "would create: " + describe(b, options.replicas);
  }
  const bool existed = s == NATS_OK;
  if (!existed) {
    kvConfig kc;
    kvConfig_Init(&kc);
    kc.Bucket = b.name;
    kc.History = 1;
    kc.TTL = b.ttl_ns;
    kc.Replicas = options.replicas;
    kc.StorageType = js_FileStorage;
    kvStore* kv = nullptr;
    asked.insert(b.name);
    s = js_CreateKeyValue(&kv, nats.js(), &kc);
    kvStore_Destroy(kv);
    if (s != NATS_OK) {
      return tl::unexpected(
          nats_error(s, std::string("cluster init: KV bucket ") + b.name + kPlacementHint));
    }
  }
  if (b.marker && !dry_run) {
    if (auto marked = ensure_marker(nats, options, b); !marked) {
      return tl::unexpected(marked.error());
    }
  }
  if (!existed || asked.contains(b.name)) {
    return "created: " + describe(b, options.replicas);
  }
  const std::int64_t have = info.si->Config->Replicas;
  return fmt::format("exists: KV bucket {} (R{}){}", b.name, have,
                     have != options.replicas ? fmt::format(
                         " -- cluster.replicas asks for R{}; not changed", options.replicas)
                                              : "");
}

Result<std::vector<std::string>> provision_once(NatsConnection& nats, const ClusterOptions& options,
                                                bool dry_run, Asked& asked) {
  std::vector<std::string> lines;
  for (const auto& b : kBuckets) {
    auto line = provision_bucket(nats, options, b, dry_run, asked);
    if (!line) {
      return tl::unexpected(line.error());
    }
    lines.push_back(std::move(*line));
  }
  if (auto streams = provision_streams(nats, options, dry_run, lines, asked); !streams) {
    return tl::unexpected(streams.error());
  }
  if (!dry_run) {
    auto servers = find_servers(nats, options);
    if (!servers) {
      return tl::unexpected(servers.error());
    }
    lines.push_back(std::move(*servers));
  }
  return lines;
}

}  // namespace

// Every step is skipped when done already, so a request left unanswered (a region just
// started, its routes still settling: CI saw a bucket's creation time out while its stream got
// a leader) is asked again from the top, for up to a minute.
Result<std::vector<std::string>> provision(const ClusterOptions& options, bool dry_run) {
  auto nats = NatsConnection::open(nats_options(options), false);
  if (!nats) {
    return tl::unexpected(nats.error());
  }
  // A region coming back from stopped servers took 30 s to answer under AddressSanitizer (CI).
  const auto deadline =
      std::chrono::steady_clock::now() + std::max(options.start_timeout, kPatience);
  Asked asked;
  for (;;) {
    auto lines = provision_once(**nats, options, dry_run, asked);
    if (lines || lines.error().code != ErrorCode::kUnavailable
        || std::chrono::steady_clock::now() >= deadline) {
      return lines;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

namespace {

// A stream's replicas, leader and size; `out` names it already.
json::object stream_status(NatsConnection& nats, const std::string& stream, json::object out) {
  StreamInfo info;
  auto jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&info.si, nats.js(), stream.c_str(), nullptr, &jerr);
  if (s != NATS_OK) {
    out["error"] = nats_error(s, "stream info").detail;
    return out;
  }
  out["replicas"] = info.si->Config->Replicas;
  out["values"] = info.si->State.Msgs;
  out["bytes"] = info.si->State.Bytes;
  out["last_revision"] = info.si->State.LastSeq;
  if (const auto* c = info.si->Cluster) {
    out["cluster"] = c->Name == nullptr ? "" : c->Name;
    out["leader"] = c->Leader == nullptr ? "" : c->Leader;
    json::array peers;
    for (int i = 0; i < c->ReplicasLen; ++i) {
      const auto* p = c->Replicas[i];
      peers.push_back(json::object{{"server", p->Name == nullptr ? "" : p->Name},
                                   {"current", p->Current},
                                   {"offline", p->Offline},
                                   {"lag", p->Lag},
                                   {"active_ms", p->Active / 1'000'000}});
    }
    out["followers"] = std::move(peers);
  }
  return out;
}

json::object bucket_status(NatsConnection& nats, const Bucket& b) {
  return stream_status(nats, std::string("KV_") + b.name,
                       json::object{{"bucket", b.name}, {"stream", std::string("KV_") + b.name}});
}

// The spools bucket: who owns each generation (the revision is its fencing token).
Result<json::array> spools_status(NatsConnection& nats) {
  json::array out;
  kvStore* kv = nullptr;
  if (natsStatus s = js_KeyValue(&kv, nats.js(), kSpoolsBucket); s != NATS_OK) {
    return tl::unexpected(nats_error(s, "the spools bucket"));
  }
  kvKeysList keys{};
  natsStatus listed = kvStore_Keys(&keys, kv, nullptr);
  if (listed == NATS_OK) {
    for (int i = 0; i < keys.Count; ++i) {
      const std::string key = decode_key(keys.Keys[i]).value_or(keys.Keys[i]);
      if (!key.starts_with("spool/")) {
        continue;
      }
      kvEntry* e = nullptr;
      if (kvStore_Get(&e, kv, keys.Keys[i]) != NATS_OK) {
        continue;
      }
      boost::system::error_code ec;
      auto v = json::parse(
          std::string_view(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e)), ec);
      const std::uint64_t revision = kvEntry_Revision(e);
      kvEntry_Destroy(e);
      if (!ec && v.is_object()) {
        auto o = v.as_object();
        o["key"] = key;
        o["revision"] = revision;
        out.push_back(std::move(o));
      }
    }
    kvKeysList_Destroy(&keys);
  }
  kvStore_Destroy(kv);
  if (listed != NATS_OK && listed != NATS_NOT_FOUND) {
    return tl::unexpected(nats_error(listed, "the spools bucket"));
  }
  return out;
}

json::array nodes_status(NatsConnection& nats) {
  json::array out;
  kvStore* kv = nullptr;
  if (js_KeyValue(&kv, nats.js(), kNodesBucket) != NATS_OK) {
    return out;
  }
  kvKeysList keys{};
  if (kvStore_Keys(&keys, kv, nullptr) == NATS_OK) {
    for (int i = 0; i < keys.Count; ++i) {
      kvEntry* e = nullptr;
      if (kvStore_Get(&e, kv, keys.Keys[i]) != NATS_OK) {
        continue;
      }
      boost::system::error_code ec;
      auto v = json::parse(
          std::string_view(static_cast<const char*>(kvEntry_Value(e)), kvEntry_ValueLen(e)), ec);
      kvEntry_Destroy(e);
      if (!ec && v.is_object()) {
        auto o = v.as_object();
        if (const auto* ts = o.if_contains("ts"); ts != nullptr && ts->is_int64()) {
          o["age_ms"] = now_ms() - ts->as_int64();
        }
        out.push_back(std::move(o));
      }
    }
    kvKeysList_Destroy(&keys);
  }
  kvStore_Destroy(kv);
  return out;
}

}  // namespace

Result<std::string> status_json(const ClusterOptions& options) {
  auto nats = NatsConnection::open(nats_options(options), false);
  if (!nats) {
    return tl::unexpected(nats.error());
  }
  json::object out{{"region", options.region},
                   {"this_node", json::object{{"node", options.node},
                                              {"site", options.site},
                                              {"connected_url", (*nats)->connected_url()},
                                              {"server_id", (*nats)->connected_server()}}}};
  json::array buckets;
  for (const auto& b : kBuckets) {
    buckets.push_back(bucket_status(**nats, b));
  }
  out["buckets"] = std::move(buckets);
  json::array spools;
  for (const auto& site : options.sites) {
    spools.push_back(stream_status(**nats, spool_stream(site),
                                   json::object{{"site", site}, {"stream", spool_stream(site)}}));
  }
  out["spool_streams"] = std::move(spools);
  out["events_stream"] =
      stream_status(**nats, kEventsStream, json::object{{"stream", kEventsStream}});
  if (auto spools_owned = spools_status(**nats)) {
    out["spools"] = std::move(*spools_owned);
  } else {
    out["spools_error"] = spools_owned.error().detail;
  }
  out["nodes"] = nodes_status(**nats);
  return json::serialize(out);
}

Result<std::vector<std::string>> takeover(const ClusterOptions& options, const std::string& node,
                                          const std::string& to, bool force) {
  if (node == to) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cluster takeover: " + node + " would take its own spools");
  }
  auto nats = NatsConnection::open(nats_options(options), false);
  if (!nats) {
    return tl::unexpected(nats.error());
  }
  // A heartbeat key lives 30 s after the last beat (the bucket's TTL): present = heartbeating.
  auto beats = [&](const std::string& who) -> Result<bool> {
    kvStore* kv = nullptr;
    if (natsStatus s = js_KeyValue(&kv, (*nats)->js(), kNodesBucket); s != NATS_OK) {
      return tl::unexpected(nats_error(s, "the nodes bucket"));
    }
    kvEntry* e = nullptr;
    const natsStatus s = kvStore_Get(&e, kv, encode_key(who).c_str());
    kvEntry_Destroy(e);
    kvStore_Destroy(kv);
    if (s != NATS_OK && s != NATS_NOT_FOUND) {
      return tl::unexpected(nats_error(s, "the nodes bucket"));
    }
    return s == NATS_OK;
  };
  auto from_alive = beats(node);
  auto to_alive = beats(to);
  if (!from_alive || !to_alive) {
    return tl::unexpected(!from_alive ? from_alive.error() : to_alive.error());
  }
  if (*from_alive && !force) {
    return make_error(ErrorCode::kConflict,
                      "cluster takeover: " + node + " heartbeats; drain it (txmail drain) and stop "
                      "it first, or give --force (it is fenced and stops delivering)");
  }
  if (!*to_alive) {
    return make_error(ErrorCode::kUnavailable,
                      "cluster takeover: " + to + " does not heartbeat; it could not deliver them");
  }
  auto owners = KvConfigStore::open(**nats, kSpoolsBucket, options.start_timeout,
                                    KvConfigStore::Scope::kRegion);
  if (!owners) {
    return tl::unexpected(owners.error());
  }
  auto entries = (*owners)->list("spool/");
  if (!entries) {
    return tl::unexpected(entries.error());
  }
  std::vector<std::string> lines;
  for (const auto& e : *entries) {
    boost::system::error_code ec;
    auto v = json::parse(e.value, ec);
    if (ec || !v.is_object()) {
      continue;
    }
    const auto* owner = v.as_object().if_contains("owner");
    if (owner == nullptr || !owner->is_string() || owner->as_string() != node) {
      continue;
    }
    const std::string value = json::serialize(json::object{{"owner", to},
                                                           {"owner_site", ""},
                                                           {"kind", "manual"},
                                                           {"from", node},
                                                           {"since", now_ms()}});
    auto rev = (*owners)->put(e.key, value, store::Expect::at(e.revision));
    if (!rev) {
      return tl::unexpected(Error{rev.error().code, "cluster takeover: " + e.key + ": "
                                                        + rev.error().detail
                                                        + " (moved meanwhile? run it again)"});
    }
    lines.push_back(
        fmt::format("moved: {} from {} to {} (fencing token {})", e.key.substr(6), node, to, *rev));
  }
  if (lines.empty()) {
    lines.push_back("nothing to move: " + node + " owns no spool");
  }
  return lines;
}

}  // namespace txmail::cluster
