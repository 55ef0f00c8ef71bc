// RocksSpool: the embedded spool on RocksDB. One writer thread takes every put queued since its
// last write, writes them as one WriteBatch with sync=true (one WAL fsync for the group), then
// completes them all: concurrent acceptances share syncs, and a completion means "on disk".
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/spool.h"

namespace rocksdb {
class WriteBatch;
class DB;
struct ReadOptions;
}  // namespace rocksdb

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
  RocksSpool(const RocksSpool&) = delete;
  RocksSpool& operator=(const RocksSpool&) = delete;
  RocksSpool(RocksSpool&&) = delete;
  RocksSpool& operator=(RocksSpool&&) = delete;

  void put(const SpoolRecord& record, Done done) override;
  void update_recipients(const std::string& job_id, const std::vector<SpoolRecipient>& recipients,
                         Done done) override;
  void erase(const std::string& job_id, Done done) override;
  Result<std::optional<SpoolRecord>> get(const std::string& job_id) override;
  std::optional<Result<std::optional<SpoolRecord>>> get_from_memory(
      const std::string& job_id) override;
  // A short queue gets large memtables: a message delivered and erased while its memtable is
  // still in memory is never written a second time (flush drops the pair), which matters for
  // large messages. A long queue (many waiting for a retry) gets small ones: those messages
  // reach the disk anyway, and memory is better spent on the queue. Hysteresis between the
  // two thresholds; the change is applied by the writer thread.
  void queue_size_hint(std::size_t jobs) override;

  // Messages of at least this size are not written into RocksDB (whose WAL checksums every
  // byte with a software CRC32C in Debian's build): they are appended to a body segment file
  // (<dir>/bodies/seg-N), synced in the same group commit before the WAL, and the record holds
  // a reference ("b/<jobId>" → "segment offset length"). A segment is deleted once no job
  // refers to it.
  static constexpr std::size_t kBodyMin = std::size_t{32} * 1024;
  static constexpr std::uint64_t kSegmentSize = 64ULL << 20;
  // Lazy writes (Pending::lazy) wait up to kLazyWait for a put, or until kLazyGroup of them.
  static constexpr std::chrono::milliseconds kLazyWait{5};
  static constexpr std::size_t kLazyGroup = 64;
  static constexpr std::size_t kShortQueue = 20'000;
  static constexpr std::size_t kLongQueue = 40'000;
  static constexpr std::size_t kLargeMemtable = 128 << 20;
  static constexpr std::size_t kSmallMemtable = 16 << 20;
  Result<std::size_t> scan(const std::function<bool(SpoolRecord&&)>& fn,
                           const std::function<void(const Error&)>& on_corrupt,
                           Messages messages) override;
  void close() override;

  // Writes the spool had stored before that its log no longer holds (issue harden-1): the
  // high-water mark says how far the log had gone (written at least once a second while
  // writing, at idle and at close); a log that now ends before it was cut or damaged. 0: none
  // missing, as far as the mark knows (it may lag the last second before a crash).
  std::uint64_t lost_writes() const { return lost_writes_; }

  // The operator accepted the loss (--accept-data-loss): the mark moves back to the log's end.
  void accept_lost_writes();

  bool accepting() const override { return !full_.load(std::memory_order_relaxed); }

  // The free space the spool's file system must keep (issue harden-1, disk full): below it new
  // jobs are refused (kUnavailable: SMTP 451, REST 503) before anything is written, recipient
  // states and erases still go while there is a quarter of it, and once space is back the
  // spool resumes by itself (RocksDB's Resume after a write error). Any thread, before use.
  void set_min_free_space(std::uint64_t bytes) {
    min_free_.store(bytes, std::memory_order_relaxed);
  }

  SpoolStats stats() const;
  // Bytes the spool holds: SST and blob files on disk plus the memtables. Any thread.
  std::uint64_t bytes() const;

 private:
  struct Pending {
    std::vector<std::pair<std::string, std::optional<std::string>>> writes;  // nullopt: delete
    Done done;
    std::string job_id;  // with a body: the job it belongs to
    std::string body;    // a large message, kept out of the WAL (see kBodyMin)
    // Recipient states and erases: nobody waits for them, so they wait (up to kLazyWait) to
    // share the next put's sync instead of paying for one of their own.
    bool lazy = false;
  };

  Result<void> open_bodies(bool writable);
  Result<std::string> read_body(const std::string& job_id, const rocksdb::ReadOptions& options,
                                bool& external);
  void release_body(const std::string& job_id);
  // Appends the group's large messages to the current segment and syncs it; adds their
  // references to `batch`. Writer thread.
  Result<void> write_bodies(const std::vector<Pending>& group, rocksdb::WriteBatch& batch);
  Result<void> next_segment();

  void enqueue(Pending p);
  // The job record with its current recipient states applied.
  Result<std::optional<SpoolRecord>> read(const std::string& job_id,
                                          const rocksdb::ReadOptions& read_options);
  Result<SpoolRecord> load(std::string_view record_bytes, const std::string& job_id,
                           const rocksdb::ReadOptions& options);

  explicit RocksSpool(std::unique_ptr<rocksdb::DB> db, Mode mode, std::string dir);
  void writer_loop();
  bool take_group(std::vector<Pending>& group);
  void write_group(std::vector<Pending>& group);
  void resize_memtables();
  // Writer thread: fails what the free space does not allow, and resumes after a full disk.
  // Returns false when nothing is left to write.
  bool admit(std::vector<Pending>& group);
  void release_memory();  // writer thread, when the queue drained
  // The high-water mark: the last synced sequence number, in <dir>/HIGH_WATER (writer thread,
  // or close). Written to a temporary file, synced, renamed: an older mark is never wrong.
  void mark_high_water(bool now, bool force = false);
  static constexpr std::uint64_t kReleaseMin = 8 << 20;

  std::unique_ptr<rocksdb::DB> db_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Pending> queue_;
  bool closing_ = false;
  std::atomic<bool> large_memtables_{true};  // what was last asked for
  std::atomic<bool> memtables_changed_{false};
  SpoolStats stats_;
  std::thread writer_;
  std::size_t eager_queued_ = 0;  // queued puts (not lazy); under mutex_
  // Body segments: the current one (writer thread) and how many jobs each holds.
  std::string bodies_dir_;
  int body_fd_ = -1;
  std::uint32_t body_segment_ = 0;
  std::uint64_t body_offset_ = 0;
  std::mutex bodies_mutex_;
  std::unordered_map<std::uint32_t, std::uint64_t> segment_jobs_;
  std::unordered_map<std::string, std::uint32_t> job_segment_;
  std::string dir_;
  std::uint64_t lost_writes_ = 0;
  std::mutex mark_mutex_;  // the mark's file and the two below
  std::uint64_t marked_seq_ = 0;
  std::chrono::steady_clock::time_point marked_at_{};
  std::atomic<std::uint64_t> min_free_{64ULL << 20};
  std::atomic<bool> full_{false};  // refusing new jobs (logged once per change)
  bool write_failed_ = false;      // the last write failed: Resume before the next (writer)
  bool drained_ = false;           // the delivery queue became empty; under mutex_
  std::chrono::steady_clock::time_point last_release_{};  // writer
};

}  // namespace txmail::store
