#include "cluster/liveness.h"

#include <algorithm>
#include <functional>

namespace txmail::cluster {

void LivenessTable::observe(const std::string& node, std::uint64_t revision, Time now) {
  auto [it, fresh] = seen_.try_emplace(node, Seen{revision, now});
  if (!fresh && it->second.revision != revision) {
    it->second = Seen{revision, now};
  }
}

void LivenessTable::own_beat(bool stored, Time now) {
  if (!stored) {
    own_ok_since_.reset();
  } else if (!own_ok_since_) {
    own_ok_since_ = now;
  }
}

bool LivenessTable::dead(const std::string& node, Time now, Clock::duration timeout) const {
  if (!own_ok_since_) {
    return false;  // this node may be the one cut off
  }
  const auto it = seen_.find(node);
  const Time changed = it == seen_.end() ? start_ : it->second.changed;
  return now - std::max(changed, *own_ok_since_) > timeout;
}

std::vector<std::string> LivenessTable::alive(Time now, Clock::duration timeout) const {
  std::vector<std::string> out;
  for (const auto& [node, seen] : seen_) {
    if (now - seen.changed <= timeout) {
      out.push_back(node);
    }
  }
  return out;
}

std::vector<std::string> takeover_order(const std::string& dead, const std::string& dead_site,
                                        std::vector<std::pair<std::string, std::string>> live) {
  auto rank = [&](const std::pair<std::string, std::string>& c) {
    return std::make_pair(c.second != dead_site, std::hash<std::string>{}(dead + "\n" + c.first));
  };
  std::sort(live.begin(), live.end(), [&](const auto& x, const auto& y) {
    const auto rx = rank(x);
    const auto ry = rank(y);
    return rx != ry ? rx < ry : x.first < y.first;
  });
  std::vector<std::string> out;
  for (auto& [node, site] : live) {
    if (node != dead) {
      out.push_back(std::move(node));
    }
  }
  return out;
}

}  // namespace txmail::cluster
