// RocksSpool: the embedded spool on RocksDB. One writer thread takes every put queued since its
// last write, writes them as one WriteBatch with sync=true (one WAL fsync for the group), then
// completes them all: concurrent acceptances share syncs, and a completion means "on disk".
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "store/spool.h"

namespace rocksdb {
class DB;
}

namespace txmail::store {

struct SpoolStats {
  std::uint64_t records = 0;
  std::uint64_t syncs = 0;
};

class RocksSpool final : public Spool {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  static Result<std::unique_ptr<RocksSpool>> open(const std::string& dir, Mode mode);
  ~RocksSpool() override;

  void put(const SpoolRecord& record, Done done) override;
  void update_recipients(const std::string& job_id, const std::vector<SpoolRecipient>& recipients,
                         Done done) override;
  void erase(const std::string& job_id, Done done) override;
  Result<std::optional<SpoolRecord>> get(const std::string& job_id) override;
  Result<std::size_t> scan(const std::function<bool(SpoolRecord&&)>& fn,
                           const std::function<void(const Error&)>& on_corrupt) override;
  void close() override;
  SpoolStats stats() const;

 private:
  struct Pending {
    std::vector<std::pair<std::string, std::optional<std::string>>> writes;  // nullopt: delete
    Done done;
  };

  void enqueue(Pending p);
  // The job record with its current recipient states applied.
  Result<SpoolRecord> load(std::string_view record_bytes, const std::string& job_id);

  explicit RocksSpool(std::unique_ptr<rocksdb::DB> db, Mode mode);
  void writer_loop();

  std::unique_ptr<rocksdb::DB> db_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool closing_ = false;
  SpoolStats stats_;
  std::thread writer_;
};

}  // namespace txmail::store
