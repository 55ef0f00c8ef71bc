#include "cluster/publish_tracker.h"

#include <algorithm>

namespace txmail::cluster {

Result<void> PublishTracker::add(std::vector<Part> parts, Time deadline, Done done) {
  for (const auto& p : parts) {
    if (parts_.contains(p.msg_id)) {
      return make_error(ErrorCode::kConflict, p.msg_id + " is already being published");
    }
  }
  const std::uint64_t id = next_group_++;
  Group g;
  g.done = std::move(done);
  g.deadline = deadline;
  g.sequences.resize(parts.size());
  for (std::size_t i = 0; i < parts.size(); ++i) {
    g.ids.push_back(parts[i].msg_id);
    ready_.push_back(parts[i].msg_id);
    bytes_ += parts[i].payload.size();
    std::string msg_id = parts[i].msg_id;
    parts_.emplace(std::move(msg_id),
                   PartState{.part = std::make_shared<const Part>(std::move(parts[i])),
                             .group = id,
                             .index = i,
                             .in_flight = false,
                             .next_send = {},
                             .backoff = {}});
  }
  groups_.emplace(id, std::move(g));
  deadlines_.emplace(deadline, id);
  return {};
}

std::vector<PublishTracker::PartPtr> PublishTracker::due(Time now) {
  std::vector<PartPtr> out;
  auto take = [this, &out](const std::string& id) {
    if (auto it = parts_.find(id); it != parts_.end() && !it->second.in_flight) {
      it->second.in_flight = true;
      out.push_back(it->second.part);
    }
  };
  for (const auto& id : ready_) {
    take(id);
  }
  ready_.clear();
  while (!resend_.empty() && resend_.begin()->first <= now) {
    take(resend_.begin()->second);
    resend_.erase(resend_.begin());
  }
  return out;
}

void PublishTracker::on_ack(const std::string& msg_id, std::uint64_t sequence) {
  auto it = parts_.find(msg_id);
  if (it == parts_.end()) {
    return;
  }
  const std::uint64_t group = it->second.group;
  auto& g = groups_.at(group);
  g.sequences[it->second.index] = sequence;
  ++g.stored;
  bytes_ -= it->second.part->payload.size();
  parts_.erase(it);
  if (g.stored == g.ids.size()) {
    finish(group, std::move(g.sequences));
  }
}

void PublishTracker::on_error(const std::string& msg_id, Failure failure, const std::string& why,
                              Time now) {
  auto it = parts_.find(msg_id);
  if (it == parts_.end()) {
    return;
  }
  auto& p = it->second;
  auto& g = groups_.at(p.group);
  g.last_error = why;
  if (failure == Failure::kPermanent) {
    finish(p.group, make_error(ErrorCode::kUnavailable, "the region refused it: " + why));
    return;
  }
  p.backoff = p.backoff.count() == 0 ? backoff_.first : std::min(p.backoff * 2, backoff_.max);
  p.next_send = now + p.backoff;
  p.in_flight = false;
  resend_.emplace(p.next_send, msg_id);
  ++resends_;
}

void PublishTracker::expire(Time now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const std::uint64_t id = deadlines_.begin()->second;  // finish() removes the entry
    const auto& g = groups_.at(id);
    finish(id,
           make_error(ErrorCode::kUnavailable,
                      "the region did not store it in time"
                          + (g.last_error.empty() ? std::string() : " (" + g.last_error + ")")));
  }
}

void PublishTracker::finish(std::uint64_t group, Result<std::vector<std::uint64_t>> result) {
  auto node = groups_.extract(group);
  auto [from, to] = deadlines_.equal_range(node.mapped().deadline);
  for (auto it = from; it != to; ++it) {
    if (it->second == group) {
      deadlines_.erase(it);
      break;
    }
  }
  for (const auto& id : node.mapped().ids) {
    if (auto it = parts_.find(id); it != parts_.end() && it->second.group == group) {
      bytes_ -= it->second.part->payload.size();
      parts_.erase(it);
    }
  }
  completed_.emplace_back(std::move(node.mapped().done), std::move(result));
}

std::vector<PublishTracker::Completion> PublishTracker::take_completed() {
  return std::exchange(completed_, {});
}

std::optional<PublishTracker::Time> PublishTracker::next_wake() const {
  std::optional<Time> at;
  auto consider = [&at](Time t) {
    at = at ? std::min(*at, t) : t;
  };
  // Stale resend entries (parts already stored) only wake the owner early.
  if (!deadlines_.empty()) {
    consider(deadlines_.begin()->first);
  }
  if (!resend_.empty()) {
    consider(resend_.begin()->first);
  }
  if (!ready_.empty()) {
    consider(Time{});
  }
  return at;
}

}  // namespace txmail::cluster
