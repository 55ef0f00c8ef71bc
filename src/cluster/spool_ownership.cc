// JetStreamSpool, ownership (issue site-2; cluster.h, ClusterSpool): this node's generation,
// the lease, takeovers of dead nodes' spools, and what a fenced node does.
#include <fmt/format.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <thread>

#include "cluster/jetstream_spool.h"
#include "common/duration.h"
#include "common/log.h"

namespace txmail::cluster {

namespace json = boost::json;

namespace {

constexpr char kOwnerPrefix[] = "spool/";
constexpr char kStateFile[] = "/cluster-spool.json";
// How long the n-th candidate of a takeover waits after the first may have tried.
constexpr auto kRankDelay = std::chrono::seconds(3);
// How often a node looks at who leads its site's spool stream.
constexpr auto kLeaderCheck = std::chrono::seconds(5);

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

std::string field(const json::object& o, const char* name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  return std::move(v.as_object());
}

}  // namespace

std::string JetStreamSpool::owner_key(const SpoolId& spool) {
  return kOwnerPrefix + spool.text();
}

std::optional<SpoolId> JetStreamSpool::parse_owner_key(std::string_view key) {
  if (!key.starts_with(kOwnerPrefix)) {
    return std::nullopt;
  }
  key.remove_prefix(std::string_view(kOwnerPrefix).size());
  const auto first = key.find('/');
  const auto last = key.rfind('/');
  if (first == std::string_view::npos || first == last || first == 0 || last + 1 == key.size()) {
    return std::nullopt;
  }
  SpoolId id{.site = std::string(key.substr(0, first)),
             .node = std::string(key.substr(first + 1, last - first - 1)),
             .generation = 0};
  const std::string_view gen = key.substr(last + 1);
  auto [ptr, ec] = std::from_chars(gen.data(), gen.data() + gen.size(), id.generation);
  if (ec != std::errc() || ptr != gen.data() + gen.size() || id.generation == 0) {
    return std::nullopt;
  }
  return id;
}

std::string JetStreamSpool::owner_value(const std::string& kind, const std::string& from) const {
  return json::serialize(json::object{{"owner", options_.node},
                                      {"owner_site", options_.site},
                                      {"kind", kind},
                                      {"from", from},
                                      {"since", now_ms()}});
}

JetStreamSpool::SpoolState JetStreamSpool::read_state() const {
  std::ifstream in(ctx_.data_dir + kStateFile);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto o = parse_object(text);
  if (!o) {
    return {};
  }
  auto number = [&](const char* name) -> std::uint64_t {
    const auto* v = o->if_contains(name);
    return v != nullptr && v->is_int64() && v->as_int64() > 0
               ? static_cast<std::uint64_t>(v->as_int64())
               : 0;
  };
  return {.generation = number("generation"), .reconcile_from = number("reconcile_from")};
}

Result<void> JetStreamSpool::write_state(std::uint64_t generation,
                                         std::uint64_t reconcile_from) const {
  const std::string path = ctx_.data_dir + kStateFile;
  const std::string tmp = path + ".tmp";
  const std::string text = json::serialize(
      json::object{{"spool", SpoolId{options_.site, options_.node, generation}.text()},
                   {"generation", generation},
                   {"reconcile_from", reconcile_from},
                   {"region", options_.region}});
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << '\n';
    out.flush();
    if (!out) {
      return make_error(ErrorCode::kIo, "cannot write " + tmp);
    }
  }
  // Synced before the rename: an older state is never replaced by a torn one.
  if (FILE* f = std::fopen(tmp.c_str(), "r"); f != nullptr) {
    ::fsync(::fileno(f));
    std::fclose(f);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return make_error(ErrorCode::kIo, "cannot rename " + tmp + " to " + path);
  }
  return {};
}

Result<SpoolId> JetStreamSpool::new_generation(std::uint64_t at_least,
                                               std::uint64_t reconcile_from) {
  std::uint64_t next = at_least;
  auto mine = owners_->list(std::string(kOwnerPrefix) + options_.site + "/" + options_.node + "/");
  if (!mine) {
    return tl::unexpected(mine.error());
  }
  for (const auto& e : *mine) {
    if (auto id = parse_owner_key(e.key); id && id->node == options_.node) {
      next = std::max(next, id->generation + 1);
    }
  }
  for (int attempt = 0; attempt < 100; ++attempt, ++next) {
    SpoolId id{.site = options_.site, .node = options_.node, .generation = next};
    auto rev = owners_->put(owner_key(id), owner_value("start", ""), store::Expect::absent());
    if (rev) {
      // With the generation still to reconcile: a crash before the end finishes it at start.
      if (auto w = write_state(next, reconcile_from); !w) {
        return tl::unexpected(w.error());
      }
      std::lock_guard lock(mutex_);
      held_[owner_key(id)] = Held{.id = id, .revision = *rev, .adopted = false};
      return id;
    }
    if (rev.error().code != ErrorCode::kConflict) {
      return tl::unexpected(rev.error());
    }
  }
  return make_error(ErrorCode::kConflict, "cluster spool: no free generation for this node");
}

Result<void> JetStreamSpool::open_ownership() {
  auto owners = KvConfigStore::open(ctx_.nats, kSpoolsBucket, options_.start_timeout,
                                    KvConfigStore::Scope::kRegion);
  if (!owners) {
    return tl::unexpected(owners.error());
  }
  owners_ = std::move(*owners);
  auto nodes = KvConfigStore::open(ctx_.nats, kNodesBucket, options_.start_timeout,
                                   KvConfigStore::Scope::kRegion);
  if (!nodes) {
    return tl::unexpected(nodes.error());
  }
  nodes_ = std::move(*nodes);
  nodes_watch_ = nodes_->watch("", [this](const store::ConfigChange& c) { observe_node(c); });
  if (auto all = nodes_->list(""); all) {
    for (const auto& e : *all) {
      observe_node(store::ConfigChange{e.key, e.value, e.revision});
    }
  }

  // This node's generation: the one its state file names while it still owns it; else a new
  // one, after dropping what the node that took the old one over delivers now.
  const SpoolState state = read_state();
  const std::uint64_t last = state.generation;
  if (last > 0) {
    const SpoolId old{.site = options_.site, .node = options_.node, .generation = last};
    // From the stream's leader: this site's server may have restarted with the node and not
    // caught up yet, and a stale answer would let a fenced node deliver its old spool.
    auto entry = owners_->fresh_get(owner_key(old));
    if (!entry) {
      return tl::unexpected(entry.error());
    }
    auto value = *entry ? parse_object((*entry)->value) : std::nullopt;
    if (value && field(*value, "owner") == options_.node) {
      {
        std::lock_guard lock(mutex_);
        intake_ = old;
        held_[owner_key(old)] = Held{.id = old, .revision = (*entry)->revision, .adopted = false};
      }
      logger()->info("cluster: spool {} is still this node's", old.text());
      if (state.reconcile_from > 0) {
        // Fenced before, and stopped before its local jobs were sorted out: finish that.
        return reconcile_at_start(SpoolId{
            .site = options_.site, .node = options_.node, .generation = state.reconcile_from});
      }
      announce();
      return {};
    }
    auto fresh = new_generation(last + 1, last);
    if (!fresh) {
      return tl::unexpected(fresh.error());
    }
    {
      std::lock_guard lock(mutex_);
      intake_ = *fresh;
    }
    logger()->warn(
        "cluster: spool {} was taken over by {} while this node was away; new jobs go "
        "to {}",
        old.text(), value ? field(*value, "owner") : std::string("nobody"), fresh->text());
    fenced_.fetch_add(1);
    return reconcile_at_start(old);
  }
  auto first = new_generation(1, 0);
  if (!first) {
    return tl::unexpected(first.error());
  }
  {
    std::lock_guard lock(mutex_);
    intake_ = *first;
  }
  announce();
  return {};
}

Result<void> JetStreamSpool::reconcile_at_start(const SpoolId& old) {
  std::vector<std::string> jobs;
  auto scanned = local_.scan(
      [&jobs](store::SpoolRecord&& r) {
        jobs.push_back(std::move(r.job_id));
        return true;
      },
      [](const Error&) {}, Messages::kEnvelopes);
  if (!scanned) {
    return tl::unexpected(scanned.error());
  }
  {
    std::lock_guard lock(mutex_);
    local_jobs_.insert(jobs.begin(), jobs.end());
  }
  reconciling_ = true;
  while (!reconcile(old, jobs)) {
    std::this_thread::sleep_for(std::chrono::seconds(1));  // the region must answer first
  }
  reconciling_ = false;
  if (auto w = write_state(intake().generation, 0); !w) {
    return w;
  }
  announce();
  return {};
}

void JetStreamSpool::start(SpoolHooks hooks) {
  {
    std::lock_guard lock(mutex_);
    hooks_ = std::move(hooks);
    started_ = true;
  }
  owner_ = std::thread([this] { owner_loop(); });
  adopter_ = std::thread([this] { adopter_loop(); });
}

void JetStreamSpool::observe_node(const store::ConfigChange& change) {
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  if (!change.value) {
    return;  // a clean leave: judged by age like any silence
  }
  liveness_.observe(change.key, change.revision, now);
  if (auto o = parse_object(*change.value)) {
    node_site_[change.key] = field(*o, "site");
    if (const auto* g = o->if_contains("generation"); g != nullptr && g->is_int64()) {
      node_generation_[change.key] = static_cast<std::uint64_t>(g->as_int64());
    }
  }
}

void JetStreamSpool::announce() {
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    generation = intake_.generation;
  }
  const auto s = stats();
  ctx_.announce(json::serialize(json::object{{"generation", generation},
                                             {"local_only", s.local_only_jobs},
                                             {"stream_pending", s.stream_pending},
                                             {"publishing", s.publishing},
                                             {"spools_held", s.spools_held},
                                             {"lease", s.lease}}));
}

void JetStreamSpool::owner_loop() {
  const auto period =
      std::min<std::chrono::milliseconds>(std::chrono::seconds(1), options_.node_timeout / 5);
  auto last_leader_check = Clock::time_point{};
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    confirm_lease();
    const bool delivering = may_deliver();
    if (delivering) {
      take_over_dead();
    }
    if (ctx_.dead_held) {
      ctx_.dead_held(delivering ? dead_held() : std::vector<std::string>{});
    }
    if (Clock::now() - last_leader_check >= kLeaderCheck) {
      last_leader_check = Clock::now();
      lead_from_home();
    }
    announce();
    lock.lock();
    owner_cv_.wait_for(lock, period);
  }
  lock.unlock();
  if (ctx_.dead_held) {
    ctx_.dead_held({});  // closing: no spool of another node is this node's any more
  }
}

// Apart from the lease: reading a spool back may take seconds, and the lease must not wait.
void JetStreamSpool::adopter_loop() {
  auto last_poll = Clock::now();
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const bool poll = Clock::now() - last_poll >= std::chrono::seconds(5);
    std::vector<std::string> keys;
    for (const auto& [key, h] : held_) {
      if (h.adopted && (!h.rebuilt || poll)) {
        keys.push_back(key);
      }
    }
    lock.unlock();
    for (const auto& key : keys) {
      if (auto r = adopt(key, poll); !r) {
        logger()->warn("cluster: spool {}: {} (trying again)", key, r.error().detail);
      }
    }
    if (poll) {
      last_poll = Clock::now();
      retire_adopted();
    }
    lock.lock();
    owner_cv_.wait_for(lock, std::chrono::milliseconds(500));
  }
}

void JetStreamSpool::confirm_lease() {
  const std::int64_t beat = ctx_.last_beat_ms();
  const std::int64_t asked = steady_ms();
  std::vector<std::pair<std::string, Held>> held;
  {
    std::lock_guard lock(mutex_);
    liveness_.own_beat(
        asked - beat < 2 * std::min<std::int64_t>(1000, options_.node_timeout.count() / 5) + 500,
        Clock::now());
    held.assign(held_.begin(), held_.end());
  }
  bool confirmed = true;
  for (const auto& [key, h] : held) {
    auto rev = owners_->fresh_revision(key);
    if (!rev) {
      confirmed = false;  // cannot tell: the lease runs out on its own
      continue;
    }
    if (*rev != h.revision) {
      on_fenced(key, h);
      confirmed = false;
    }
  }
  if (confirmed) {
    // Valid for half a node timeout from the older of the two proofs.
    const std::int64_t until = std::min(beat, asked) + options_.node_timeout.count() / 2;
    lease_until_ms_.store(std::max(lease_until_ms_.load(), until));
  }
}

void JetStreamSpool::take_over_dead() {
  const auto now = Clock::now();
  auto entries = owners_->list(kOwnerPrefix);
  if (!entries) {
    return;
  }
  for (const auto& e : *entries) {
    auto id = parse_owner_key(e.key);
    auto value = parse_object(e.value);
    if (!id || !value) {
      continue;
    }
    const std::string owner = field(*value, "owner");
    std::vector<std::string> order;
    {
      std::lock_guard lock(mutex_);
      if (owner == options_.node) {
        if (!held_.contains(e.key)) {
          // Moved to this node by hand, or held before a restart: rebuild it.
          std::erase_if(fenced_jobs_, [&](const auto& f) { return f.second == e.key; });
          held_[e.key] = Held{.id = *id, .revision = e.revision, .adopted = true, .claimed = now};
          logger()->info("cluster: spool {} is this node's ({}): taking its jobs", id->text(),
                         field(*value, "kind"));
        }
        continue;
      }
      if (!liveness_.dead(owner, now, options_.node_timeout)) {
        dead_since_.erase(e.key);
        continue;
      }
      const auto since = dead_since_.try_emplace(e.key, now).first->second;
      std::vector<std::pair<std::string, std::string>> live;
      for (const auto& node : liveness_.alive(now, options_.node_timeout)) {
        live.emplace_back(node, node_site_[node]);
      }
      order = takeover_order(owner, id->site, std::move(live));
      const auto rank = std::find(order.begin(), order.end(), options_.node) - order.begin();
      if (rank == static_cast<std::ptrdiff_t>(order.size()) || now - since < rank * kRankDelay) {
        continue;
      }
    }
    auto rev = owners_->put(e.key, owner_value("automatic", owner), store::Expect::at(e.revision));
    if (!rev) {
      if (rev.error().code != ErrorCode::kConflict) {
        logger()->warn("cluster: claiming spool {}: {}", id->text(), rev.error().detail);
      }
      continue;
    }
    takeovers_.fetch_add(1);
    logger()->warn(
        "cluster: node {} is silent for over {} ms: this node took its spool {} over "
        "(fencing token {})",
        owner, options_.node_timeout.count(), id->text(), *rev);
    std::lock_guard lock(mutex_);
    held_[e.key] = Held{.id = *id, .revision = *rev, .adopted = true, .claimed = now};
    dead_since_.erase(e.key);
    // Jobs of this spool dropped here once (this node was fenced from it) are its again.
    std::erase_if(fenced_jobs_, [&](const auto& f) { return f.second == e.key; });
  }
}

std::vector<std::string> JetStreamSpool::dead_held() {
  const auto now = Clock::now();
  std::set<std::string> nodes;
  std::lock_guard lock(mutex_);
  for (const auto& [key, h] : held_) {
    if (h.adopted && h.id.node != options_.node
        && liveness_.dead(h.id.node, now, options_.node_timeout)) {
      nodes.insert(h.id.node);
    }
  }
  return {nodes.begin(), nodes.end()};
}

bool JetStreamSpool::wait_for_own_beat() {
  // A fenced node claims its new generation once a heartbeat stored after waking is in: until
  // then the others still judge it dead, and would take the new generation over as well.
  const auto steady_ms = [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
        .count();
  };
  const std::int64_t noticed = steady_ms();
  const std::int64_t beat_by = noticed + options_.node_timeout.count();
  while (ctx_.last_beat_ms() <= noticed && steady_ms() < beat_by) {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      return false;
    }
    owner_cv_.wait_for(lock, std::chrono::milliseconds(100));
  }
  return true;
}

void JetStreamSpool::on_fenced(const std::string& key, const Held& held) {
  fenced_.fetch_add(1);
  if (held.adopted) {
    // A spool this node had taken over went elsewhere (by hand): its jobs are dropped here.
    std::lock_guard lock(mutex_);
    std::size_t dropped = 0;
    for (auto it = adopted_.begin(); it != adopted_.end();) {
      if (it->second.spool_key == key) {
        fenced_jobs_.emplace(it->first, key);
        it = adopted_.erase(it);
        ++dropped;
      } else {
        ++it;
      }
    }
    held_.erase(key);
    logger()->warn("cluster: spool {} was taken from this node: {} jobs left to its new owner",
                   held.id.text(), dropped);
    return;
  }
  // This node's own generation: it was judged dead (paused, cut off). Nothing is delivered
  // until the local jobs are sorted out; new jobs go to a new generation at once.
  reconciling_ = true;
  logger()->warn(
      "cluster: this node's spool {} was taken over by another node (fenced); "
      "reconciling",
      held.id.text());
  if (!wait_for_own_beat()) {
    return;
  }
  Result<SpoolId> fresh = make_error(ErrorCode::kUnavailable, "");
  while (!(fresh = new_generation(held.id.generation + 1, held.id.generation))) {
    logger()->warn("cluster: a new spool generation: {} (trying again)", fresh.error().detail);
    std::unique_lock lock(mutex_);
    if (stopping_) {
      return;
    }
    owner_cv_.wait_for(lock, std::chrono::seconds(1));
  }
  std::vector<std::string> jobs;
  {
    std::unique_lock lock(mutex_);
    held_.erase(key);
    intake_ = *fresh;
    jobs.assign(local_jobs_.begin(), local_jobs_.end());
    // A put still on its way to the old generation decides where its job is: wait for it.
    owner_cv_.wait_for(lock, options_.publish_timeout, [&] {
      return std::none_of(jobs.begin(), jobs.end(),
                          [&](const std::string& j) { return publishing_.contains(j); });
    });
  }
  while (!reconcile(held.id, jobs)) {
    std::unique_lock lock(mutex_);
    if (stopping_) {
      return;
    }
    owner_cv_.wait_for(lock, std::chrono::seconds(1));
  }
  if (auto w = write_state(fresh->generation, 0); !w) {
    logger()->error("cluster: {}", w.error().detail);  // reconciled again at the next start
  }
  reconciling_ = false;
  announce();
}

bool JetStreamSpool::reconcile(const SpoolId& old, const std::vector<std::string>& jobs) {
  std::size_t dropped = 0;
  std::size_t kept = 0;
  for (const auto& job : jobs) {
    {
      std::lock_guard lock(mutex_);
      if (fenced_jobs_.contains(job) || !local_jobs_.contains(job)) {
        continue;  // sorted out already, or finished meanwhile
      }
    }
    auto where = look_up(old, job);
    if (!where) {
      logger()->warn("cluster: reconciling job {}: {}", job, where.error().detail);
      return false;
    }
    std::lock_guard lock(mutex_);
    if (*where == InStream::kAbsent) {
      // Never reached the region (accepted locally, or its put was cut short): it stays,
      // and goes to the new generation.
      local_only_.insert(job);
      local_jobs_.insert(job);
      ++kept;
      continue;
    }
    fenced_jobs_.emplace(job, owner_key(old));
    local_jobs_.erase(job);
    local_only_.erase(job);
    finals_.erase(job);
    stored_.erase(job);
    local_.erase(job, [](auto) {});
    ++dropped;
  }
  replicator_cv_.notify_one();
  logger()->warn(
      "cluster: reconciled spool {}: {} jobs left to the node that took it over, {} "
      "kept (the region never had them)",
      old.text(), dropped, kept);
  return true;
}

void JetStreamSpool::lead_from_home() {
  auto servers = ctx_.config.get(kServersKey);
  if (!servers || !*servers) {
    return;  // a region made before `cluster init` recorded them
  }
  auto map = parse_object((*servers)->value);
  const std::string home = map ? field(*map, options_.site.c_str()) : std::string();
  if (home.empty()) {
    return;
  }
  jsStreamInfo* si = nullptr;
  auto jerr = static_cast<jsErrCode>(0);
  if (js_GetStreamInfo(&si, js_, stream_.c_str(), nullptr, &jerr) != NATS_OK) {
    return;
  }
  std::string leader;
  bool home_current = false;
  if (const auto* c = si->Cluster; c != nullptr) {
    leader = c->Leader != nullptr ? c->Leader : "";
    for (int i = 0; i < c->ReplicasLen; ++i) {
      const auto* p = c->Replicas[i];
      home_current =
          home_current || (p->Name != nullptr && home == p->Name && p->Current && !p->Offline);
    }
  }
  jsStreamInfo_Destroy(si);
  if (leader.empty() || leader == home || !home_current) {
    return;  // led from home, or no leader now, or home is not caught up
  }
  // The leader steps down; a current follower takes over (home, or another try later).
  natsMsg* reply = nullptr;
  const std::string subject = "$JS.API.STREAM.LEADER.STEPDOWN." + stream_;
  if (natsConnection_RequestString(&reply, ctx_.nats.raw(), subject.c_str(), "",
                                   options_.timeout.count())
      == NATS_OK) {
    logger()->info(
        "cluster: stream {} was led from {}, not from this site's {}: asked it to step down",
        stream_, leader, home);
  }
  natsMsg_Destroy(reply);
}

void JetStreamSpool::retire_adopted() {
  std::vector<std::pair<std::string, Held>> done;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [held_key, h] : held_) {
      if (!h.adopted || !h.rebuilt || !h.empty_in_stream) {
        continue;
      }
      const std::string& key = held_key;
      const bool jobs_left = std::any_of(adopted_.begin(), adopted_.end(),
                                         [&](const auto& a) { return a.second.spool_key == key; });
      const auto g = node_generation_.find(h.id.node);
      // The former owner has reconciled (it announces a newer generation): the final states
      // kept for it can go.
      if (!jobs_left && g != node_generation_.end() && g->second > h.id.generation) {
        done.emplace_back(key, h);
      }
    }
  }
  for (const auto& [key, h] : done) {
    // Read again now, after the former owner's newer generation was seen: a put of its that
    // was on its way may have landed since the last look, and must be taken over, not purged.
    std::size_t undecodable = 0;
    auto left = read_records(h.id, false, undecodable);
    {
      std::lock_guard lock(mutex_);
      // As in adopt(): a record of a job finished here is one already removed.
      if (!left || undecodable > 0
          || !std::all_of(left->begin(), left->end(), [this](const StreamRecord& sr) {
               return finished_adopted_.contains(sr.record.job_id);
             })) {
        if (auto it = held_.find(key); it != held_.end()) {
          it->second.empty_in_stream = false;
        }
        continue;
      }
    }
    // What is left (done tombstones) goes by sequence: see purge() on filtered purges.
    auto rest = stream_sequences(h.id, spool_filter(h.id), false);
    if (!rest || !delete_sequences(h.id.site, *rest, "spool " + h.id.text())) {
      continue;
    }
    if (auto r = owners_->erase(key, store::Expect::at(h.revision)); !r) {
      continue;
    }
    std::lock_guard lock(mutex_);
    held_.erase(key);
    logger()->info("cluster: spool {} retired (every job final, its former owner reconciled)",
                   h.id.text());
  }
}

}  // namespace txmail::cluster
