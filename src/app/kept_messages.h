// Inbound messages that could not be read (issue bounce-1, item 3): neither a report nor a known
// bounce, or a complaint that names no mail of ours. They are kept for inspection under
// <data_dir>/inbound-kept/, one file per message ("<unix ms, 13 digits>-<sequence>.eml", so the
// names sort by age), bounded in count and in bytes: the oldest go first when a new one would
// exceed either bound; a message larger than the byte bound is kept cut to it.
//
// InboundHandler keeps them on the worker pool (any thread: one mutex); `txmail inbound
// list|show` reads the directory without the node (list_kept, read_kept). The files are the
// node's umask (0600 under `serve`); nothing else refers to them, so losing them loses nothing
// but the examples.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace txmail::app {

struct KeptMessage {
  std::string id;  // the file name without ".eml"
  std::int64_t ts_ms = 0;
  std::uint64_t bytes = 0;
};

struct KeptLimits {
  std::size_t max_count = 100;
  std::uint64_t max_bytes = 10ULL << 20;
};

// Every kept message of a directory, oldest first; an absent directory holds none.
Result<std::vector<KeptMessage>> list_kept(const std::string& dir);
// One kept message's bytes; kNotFound for an id that is not one (never a path).
Result<std::string> read_kept(const std::string& dir, const std::string& id);

class KeptMessages {
 public:
  // Creates the directory if needed and counts what it already holds.
  static Result<std::unique_ptr<KeptMessages>> open(std::string dir, KeptLimits limits);

  // Keeps a message (dropping the oldest past the bounds); returns its id.
  Result<std::string> keep(std::string_view message);

  std::size_t count() const;
  std::uint64_t bytes() const;
  std::uint64_t dropped() const;  // removed to make room, since the start

 private:
  KeptMessages(std::string dir, KeptLimits limits) : dir_(std::move(dir)), limits_(limits) {}

  void make_room(std::uint64_t incoming);  // with mutex_ held

  std::string dir_;
  KeptLimits limits_;
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> files_;  // id -> bytes, oldest first
  std::uint64_t bytes_ = 0;
  std::uint64_t dropped_ = 0;
  std::uint64_t sequence_ = 0;
};

}  // namespace txmail::app
