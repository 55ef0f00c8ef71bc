#include "store/rocks_spool.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <malloc.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "common/log.h"
#include "store/rocks_log.h"

namespace txmail::store {

namespace {

tl::unexpected<Error> io_error(const rocksdb::Status& s) {
  return make_error(ErrorCode::kIo, "rocksdb: " + s.ToString());
}

}  // namespace

Result<std::unique_ptr<RocksSpool>> RocksSpool::open(const std::string& dir, Mode mode) {
  rocksdb::Options options;
  options.create_if_missing = mode == Mode::kReadWrite;
  options.info_log = make_rocks_logger();
  // Memtables follow the queue's length (queue_size_hint): large while it is short.
  options.write_buffer_size = kLargeMemtable;
  // Flushes merge two memtables: a message erased in the memtable after the one that holds it
  // is still dropped at flush instead of being written to a blob file.
  options.max_write_buffer_number = 3;
  options.min_write_buffer_number_to_merge = 2;
  options.max_background_jobs = 2;
  // Messages are stored once and read back once: large ones go to blob files, so compactions
  // move small keys, not message bytes; no compression (messages are short-lived).
  options.compression = rocksdb::kNoCompression;
  options.enable_blob_files = true;
  options.min_blob_size = 4096;
  options.enable_blob_garbage_collection = true;
  // A message is read back about once (per delivery attempt): a small block cache is enough,
  // and memory is better spent on queued recipients.
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(8 << 20);
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Reusing WAL files means a sync need not also commit a file-size change to the journal
  // (measured: about 15% more acknowledged messages per second). RocksDB 7.8 keeps recycling
  // only with this recovery mode, which drops a torn record at the tail of the log after a
  // crash: a record that was never synced, so never acknowledged. Corruption anywhere else
  // still fails the open.
  options.recycle_log_file_num = 4;
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  if (mode == Mode::kReadWrite) {
    // Made here, not by RocksDB, which would log an error about the directory it then makes.
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
  }
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = mode == Mode::kReadWrite
                                ? rocksdb::DB::Open(options, dir, &raw)
                                : rocksdb::DB::OpenForReadOnly(options, dir, &raw);
  if (!s.ok()) {
    return io_error(s);
  }
  std::unique_ptr<RocksSpool> spool(new RocksSpool(std::unique_ptr<rocksdb::DB>(raw), mode, dir));
  // kTolerateCorruptedTailRecords cannot tell a torn last record from a log cut short: the
  // high-water mark can. Damage is counted, never reported as nothing.
  if (std::ifstream mark(dir + "/HIGH_WATER"); mark) {
    std::uint64_t seq = 0;
    if (mark >> seq) {
      const std::uint64_t recovered = spool->db_->GetLatestSequenceNumber();
      spool->lost_writes_ = seq > recovered ? seq - recovered : 0;
      spool->marked_seq_ = std::min(seq, recovered);
    }
  }
  if (auto r = spool->open_bodies(mode == Mode::kReadWrite); !r) {
    return tl::unexpected(r.error());
  }
  if (mode == Mode::kReadWrite) {
    spool->writer_ = std::thread([s = spool.get()] { s->writer_loop(); });
  }
  return spool;
}

namespace {

std::string segment_path(const std::string& dir, std::uint32_t segment) {
  return dir + "/seg-" + std::to_string(segment);
}

std::string errno_text() {
  return std::strerror(errno);
}

}  // namespace

Result<void> RocksSpool::open_bodies(bool writable) {
  if (writable) {
    std::error_code ec;
    std::filesystem::create_directories(bodies_dir_, ec);
    if (ec) {
      return make_error(ErrorCode::kIo, "spool: " + bodies_dir_ + ": " + ec.message());
    }
  }
  // Which segments are referred to, and by how many jobs.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  std::uint32_t highest = 0;
  for (it->Seek("b/"); it->Valid() && it->key().starts_with("b/"); it->Next()) {
    const auto ref = decode_body_ref(std::string_view(it->value().data(), it->value().size()));
    if (!ref) {
      logger()->error("spool: bad body reference {}", it->key().ToString());
      continue;
    }
    segment_jobs_[ref->segment] += 1;
    job_segment_[it->key().ToString().substr(2)] = ref->segment;
    highest = std::max(highest, ref->segment);
  }
  if (!it->status().ok()) {
    return io_error(it->status());
  }
  if (!writable) {
    return {};
  }
  // Segments nobody refers to (every job erased, or bodies synced just before a crash that
  // lost the records referring to them) go; new bodies start a new segment.
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(bodies_dir_, ec)) {
    const std::string name = entry.path().filename().string();
    std::uint32_t seg = 0;
    if (name.starts_with("seg-")
        && std::from_chars(name.data() + 4, name.data() + name.size(), seg).ec == std::errc()) {
      highest = std::max(highest, seg);
      if (!segment_jobs_.contains(seg)) {
        std::filesystem::remove(entry.path(), ec);
      }
    }
  }
  body_segment_ = highest + 1;
  return {};
}

RocksSpool::RocksSpool(std::unique_ptr<rocksdb::DB> db, Mode mode, std::string dir)
    : db_(std::move(db)), bodies_dir_(dir + "/bodies"), dir_(std::move(dir)) {
  if (mode != Mode::kReadWrite) {
    closing_ = true;
  }
}

RocksSpool::~RocksSpool() {
  close();
  if (body_fd_ >= 0) {
    ::close(body_fd_);
  }
}

void RocksSpool::put(const SpoolRecord& record, Done done) {
  Pending p;
  if (record.message.size() >= kBodyMin) {
    SpoolRecord head{record.job_id,
                     record.account,
                     record.sender,
                     record.received_ms,
                     record.flags,
                     record.recipients,
                     {},
                     record.job_data};
    p.writes.emplace_back(spool_key(record.job_id), encode(head));
    p.job_id = record.job_id;
    p.body = record.message;
  } else {
    p.writes.emplace_back(spool_key(record.job_id), encode(record));
  }
  p.done = std::move(done);
  enqueue(std::move(p));
}

void RocksSpool::update_recipients(const std::string& job_id,
                                   const std::vector<SpoolRecipient>& recipients, Done done) {
  Pending p;
  p.writes.emplace_back(recipients_key(job_id), encode_recipients(recipients));
  p.done = std::move(done);
  p.lazy = true;
  enqueue(std::move(p));
}

void RocksSpool::erase(const std::string& job_id, Done done) {
  Pending p;
  p.writes.emplace_back(spool_key(job_id), std::nullopt);
  p.writes.emplace_back(recipients_key(job_id), std::nullopt);
  p.writes.emplace_back(body_key(job_id), std::nullopt);
  p.job_id = job_id;  // its body segment is released once the erase is written
  p.done = std::move(done);
  p.lazy = true;
  enqueue(std::move(p));
}

void RocksSpool::queue_size_hint(std::size_t jobs) {
  if (jobs == 0) {
    std::lock_guard lock(mutex_);
    drained_ = true;
    wake_.notify_one();
  }
  const bool large = large_memtables_.load(std::memory_order_relaxed);
  if ((large && jobs > kLongQueue) || (!large && jobs < kShortQueue)) {
    large_memtables_.store(!large, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    memtables_changed_.store(true, std::memory_order_release);
    wake_.notify_one();
  }
}

void RocksSpool::enqueue(Pending p) {
  {
    std::lock_guard lock(mutex_);
    if (!closing_) {
      eager_queued_ += p.lazy ? 0 : 1;
      const bool first_eager = !p.lazy && eager_queued_ == 1;
      queue_.push_back(std::move(p));
      // What the writer waits for: the first write, the first put, a full group of lazy writes.
      if (queue_.size() == 1 || first_eager || queue_.size() == kLazyGroup) {
        wake_.notify_one();
      }
      return;
    }
  }
  p.done(make_error(ErrorCode::kUnavailable, "spool is closed"));
}

void RocksSpool::writer_loop() {
  std::vector<Pending> group;
  while (take_group(group)) {
    if (admit(group)) {
      write_group(group);
    }
    group.clear();
  }
}

// Waits for writes (doing the idle work meanwhile) and takes them all; false once closing with
// nothing left to write.
bool RocksSpool::take_group(std::vector<Pending>& group) {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] {
      return closing_ || !queue_.empty() || drained_
             || memtables_changed_.load(std::memory_order_acquire);
    });
    if (memtables_changed_.exchange(false)) {
      lock.unlock();
      resize_memtables();
      lock.lock();
    }
    if (queue_.empty()) {
      if (closing_) {
        return false;  // closing, and every pending put has been written
      }
      lock.unlock();
      mark_high_water(true);  // idle: the mark catches up
      lock.lock();
      if (!queue_.empty() || closing_) {
        continue;
      }
      if (std::exchange(drained_, false)) {
        lock.unlock();
        release_memory();
        lock.lock();
      }
      continue;
    }
    // Only lazy writes so far: give a put up to kLazyWait to come and carry them in its sync.
    if (eager_queued_ == 0) {
      wake_.wait_for(lock, kLazyWait, [this] {
        return closing_ || eager_queued_ > 0 || queue_.size() >= kLazyGroup;
      });
    }
    eager_queued_ = 0;
    group.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
    queue_.clear();
    return true;
  }
}

// SetOptions writes an OPTIONS file: on the writer thread, never on an I/O thread.
void RocksSpool::resize_memtables() {
  const std::size_t size =
      large_memtables_.load(std::memory_order_relaxed) ? kLargeMemtable : kSmallMemtable;
  const auto s = db_->SetOptions({{"write_buffer_size", std::to_string(size)}});
  if (!s.ok()) {
    logger()->warn("spool: memtable size change failed: {}", s.ToString());
  }
}

// One group commit: the large bodies, then the WAL (synced), then each write's callback.
void RocksSpool::write_group(std::vector<Pending>& group) {
  // Sized up front: a batch that grows by doubling copies each large message again.
  std::size_t bytes = 64;
  for (const auto& p : group) {
    for (const auto& [key, value] : p.writes) {
      bytes += key.size() + (value ? value->size() : 0) + 16;
    }
  }
  rocksdb::WriteBatch batch(bytes);
  for (const auto& p : group) {
    for (const auto& [key, value] : p.writes) {
      if (value) {
        batch.Put(key, *value);
      } else {
        batch.Delete(key);
      }
    }
  }
  // Large bodies first: appended to the segment and synced before the WAL that refers to
  // them, so a reference never points at bytes a crash could lose.
  rocksdb::Status s;
  if (auto written = write_bodies(group, batch); !written) {
    s = rocksdb::Status::IOError(written.error().detail);
  } else {
    rocksdb::WriteOptions options;
    options.sync = true;
    s = db_->Write(options, &batch);
  }
  if (!s.ok()) {
    write_failed_ = true;  // RocksDB stops writing after a failed write: Resume next time
    logger()->error("spool: write failed: {}", s.ToString());
  }
  for (const auto& p : group) {
    // A written erase lets go of its job's body; a failed put lets go of the one just added.
    if (!p.job_id.empty() && p.body.empty() == s.ok()) {
      release_body(p.job_id);
    }
  }
  {
    std::lock_guard lock(mutex_);
    stats_.syncs += 1;
    stats_.records += group.size();
  }
  for (auto& p : group) {
    p.done(s.ok() ? Result<void>() : Result<void>(io_error(s)));
  }
  if (s.ok()) {
    mark_high_water(false);
  }
}

// The queue is empty and its last erases are written: the memtables hold only messages that
// are gone, so flushing them drops the pairs and frees their memory, and glibc gives the freed
// pages back (issue deliver-2: memory back to its idle level after a burst). At most once a
// minute, and only for memtables worth it, so a quiet node does not flush after each message.
void RocksSpool::release_memory() {
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t memtables = 0;
  db_->GetIntProperty("rocksdb.cur-size-all-mem-tables", &memtables);
  if (memtables < kReleaseMin || now - last_release_ < std::chrono::minutes(1)) {
    return;
  }
  last_release_ = now;
  rocksdb::FlushOptions options;
  options.wait = true;
  if (const auto s = db_->Flush(options); !s.ok()) {
    logger()->warn("spool: flush after the queue drained: {}", s.ToString());
    return;
  }
  ::malloc_trim(0);
  logger()->info("spool: the queue drained: {} MiB of memtables flushed, memory given back",
                 memtables >> 20);
}

bool RocksSpool::admit(std::vector<Pending>& group) {
  struct statvfs fs {};

  const std::uint64_t reserve = min_free_.load(std::memory_order_relaxed);
  const std::uint64_t free = ::statvfs(dir_.c_str(), &fs) == 0
                                 ? static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize
                                 : reserve;
  const bool full = free < reserve;
  if (full != full_.load(std::memory_order_relaxed)) {
    full_.store(full, std::memory_order_relaxed);
    if (full) {
      logger()->error(
          "spool: {} MiB free, under the reserve of {} MiB ([node] min_free_space): "
          "new messages are refused until space returns",
          free >> 20, reserve >> 20);
    } else {
      logger()->info("spool: {} MiB free again: accepting new messages", free >> 20);
    }
  }
  // New jobs need the whole reserve; recipient states and erases a quarter of it.
  const bool states_ok = free >= reserve / 4;
  auto refused = [&](const Pending& p) {
    return p.lazy ? !states_ok : full;
  };
  for (auto& p : group) {
    if (refused(p)) {
      if (!p.job_id.empty() && !p.body.empty()) {
        release_body(p.job_id);
      }
      p.done(make_error(ErrorCode::kUnavailable, "spool: the disk is full"));
    }
  }
  std::erase_if(group, refused);
  if (group.empty()) {
    return false;
  }
  if (write_failed_) {
    const auto s = db_->Resume();
    if (!s.ok()) {
      for (auto& p : group) {
        p.done(io_error(s));
      }
      group.clear();
      return false;
    }
    write_failed_ = false;
    logger()->info("spool: writing again after a failed write");
  }
  return true;
}

void RocksSpool::close() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    wake_.notify_one();
  }
  if (writer_.joinable()) {
    writer_.join();
    mark_high_water(true);
  }
}

void RocksSpool::accept_lost_writes() {
  lost_writes_ = 0;
  mark_high_water(true, true);
}

void RocksSpool::mark_high_water(bool now, bool force) {
  std::lock_guard lock(mark_mutex_);
  const auto at = std::chrono::steady_clock::now();
  const std::uint64_t seq = db_->GetLatestSequenceNumber();
  if (!force && (seq == marked_seq_ || (!now && at - marked_at_ < std::chrono::seconds(1)))) {
    return;
  }
  const std::string path = dir_ + "/HIGH_WATER";
  const std::string tmp = path + ".tmp";
  const std::string text = std::to_string(seq) + "\n";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const bool ok = fd >= 0
                  && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size())
                  && ::fdatasync(fd) == 0;
  if (fd >= 0) {
    ::close(fd);
  }
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    logger()->warn("spool: the high-water mark could not be written: {}", std::strerror(errno));
    return;
  }
  marked_seq_ = seq;
  marked_at_ = at;
}

std::uint64_t RocksSpool::bytes() const {
  std::uint64_t total = 0;
  for (const char* property : {"rocksdb.total-sst-files-size", "rocksdb.total-blob-file-size",
                               "rocksdb.cur-size-all-mem-tables"}) {
    std::uint64_t v = 0;
    if (db_->GetIntProperty(property, &v)) {
      total += v;
    }
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(bodies_dir_, ec)) {
    total += entry.file_size(ec);
  }
  return total;
}

SpoolStats RocksSpool::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

Result<std::optional<SpoolRecord>> RocksSpool::get(const std::string& job_id) {
  return read(job_id, rocksdb::ReadOptions());
}

std::optional<Result<std::optional<SpoolRecord>>> RocksSpool::get_from_memory(
    const std::string& job_id) {
  // kBlockCacheTier: memtables and cache only; "Incomplete" where the disk would be needed.
  rocksdb::ReadOptions options;
  options.read_tier = rocksdb::kBlockCacheTier;
  auto r = read(job_id, options);
  if (!r && r.error().code == ErrorCode::kUnavailable) {
    return std::nullopt;
  }
  return r;
}

Result<std::optional<SpoolRecord>> RocksSpool::read(const std::string& job_id,
                                                    const rocksdb::ReadOptions& read_options) {
  // One snapshot for the record, its recipient states and its body reference: an erase written
  // meanwhile (the three keys in one batch) is seen whole or not at all, never as a record
  // whose message has gone.
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions options = read_options;
  options.snapshot = snapshot.snapshot();
  std::string value;
  const rocksdb::Status s = db_->Get(options, spool_key(job_id), &value);
  if (s.IsIncomplete()) {
    return make_error(ErrorCode::kUnavailable, "not in memory");
  }
  if (s.IsNotFound()) {
    return std::optional<SpoolRecord>();
  }
  if (!s.ok()) {
    return io_error(s);
  }
  auto record = load(value, job_id, options);
  if (!record) {
    return tl::unexpected(record.error());
  }
  if (record->message.empty()) {
    bool external = false;
    auto body = read_body(job_id, options, external);
    if (!body && body.error().code == ErrorCode::kNotFound) {
      // The segment went after the snapshot: the job was erased meanwhile, unless it is still
      // there (then the segment is lost).
      std::string now;
      if (db_->Get(rocksdb::ReadOptions(), spool_key(job_id), &now).IsNotFound()) {
        return std::optional<SpoolRecord>();
      }
      return make_error(ErrorCode::kCorrupt, body.error().detail);
    }
    if (!body) {
      return tl::unexpected(body.error());
    }
    if (external) {
      record->message = std::move(*body);
    }
  }
  return std::optional<SpoolRecord>(std::move(*record));
}

Result<SpoolRecord> RocksSpool::load(std::string_view record_bytes, const std::string& job_id,
                                     const rocksdb::ReadOptions& options) {
  auto record = decode(record_bytes);
  if (!record) {
    return record;
  }
  std::string state;
  const rocksdb::Status s = db_->Get(options, recipients_key(job_id), &state);
  if (s.IsIncomplete()) {
    return make_error(ErrorCode::kUnavailable, "not in memory");
  }
  if (s.ok()) {
    auto recipients = decode_recipients(state);
    if (!recipients) {
      return tl::unexpected(recipients.error());
    }
    record->recipients = std::move(*recipients);
  } else if (!s.IsNotFound()) {
    return io_error(s);
  }
  return record;
}

Result<void> RocksSpool::write_bodies(const std::vector<Pending>& group,
                                      rocksdb::WriteBatch& batch) {
  std::vector<iovec> iov;
  for (const auto& p : group) {
    if (!p.body.empty()) {
      iov.push_back(iovec{const_cast<char*>(p.body.data()), p.body.size()});
    }
  }
  if (iov.empty()) {
    return {};
  }
  if (body_fd_ < 0 || body_offset_ >= kSegmentSize) {
    if (auto r = next_segment(); !r) {
      return r;
    }
  }
  // One gathered write, then one sync, before the WAL that refers to these bytes is written.
  std::size_t done = 0;
  while (done < iov.size()) {
    const auto n = static_cast<int>(std::min<std::size_t>(iov.size() - done, IOV_MAX));
    const ssize_t w = ::writev(body_fd_, iov.data() + done, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      body_offset_ =
          kSegmentSize;  // the segment's end is unknown now: the next group starts another
      return make_error(ErrorCode::kIo, "spool: body write: " + errno_text());
    }
    auto left = static_cast<std::size_t>(w);  // a short write: go on where it stopped
    while (done < iov.size() && left >= iov[done].iov_len) {
      left -= iov[done].iov_len;
      ++done;
    }
    if (left > 0) {
      iov[done].iov_base = static_cast<char*>(iov[done].iov_base) + left;
      iov[done].iov_len -= left;
    }
  }
  if (::fdatasync(body_fd_) != 0) {
    body_offset_ = kSegmentSize;  // after a failed sync nothing in it can be trusted
    return make_error(ErrorCode::kIo, "spool: body sync: " + errno_text());
  }
  std::lock_guard lock(bodies_mutex_);
  for (const auto& p : group) {
    if (!p.body.empty()) {
      batch.Put(body_key(p.job_id), encode_body_ref({body_segment_, body_offset_, p.body.size()}));
      body_offset_ += p.body.size();
      segment_jobs_[body_segment_] += 1;
      job_segment_[p.job_id] = body_segment_;
    }
  }
  return {};
}

Result<void> RocksSpool::next_segment() {
  if (body_fd_ >= 0) {
    ::close(body_fd_);
    body_fd_ = -1;
    std::lock_guard lock(bodies_mutex_);
    if (!segment_jobs_.contains(body_segment_)) {  // every job in it is gone already
      std::error_code ec;
      std::filesystem::remove(segment_path(bodies_dir_, body_segment_), ec);
    }
    ++body_segment_;
  }
  // A segment that exists already holds bytes of a failed write: start after it instead.
  const int fd = ::open(segment_path(bodies_dir_, body_segment_).c_str(),
                        O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    const std::string why = errno_text();
    ++body_segment_;
    return make_error(ErrorCode::kIo, "spool: cannot create a body segment: " + why);
  }
  // The new file's name must survive a crash too.
  const int dir = ::open(bodies_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const bool synced = dir >= 0 && ::fsync(dir) == 0;
  if (dir >= 0) {
    ::close(dir);
  }
  if (!synced) {
    ::close(fd);
    return make_error(ErrorCode::kIo, "spool: cannot sync " + bodies_dir_ + ": " + errno_text());
  }
  body_fd_ = fd;
  body_offset_ = 0;
  return {};
}

void RocksSpool::release_body(const std::string& job_id) {
  std::lock_guard lock(bodies_mutex_);
  const auto it = job_segment_.find(job_id);
  if (it == job_segment_.end()) {
    return;
  }
  const std::uint32_t seg = it->second;
  job_segment_.erase(it);
  if (--segment_jobs_[seg] == 0) {
    segment_jobs_.erase(seg);
    if (seg != body_segment_) {  // the segment being written goes when it is full
      std::error_code ec;
      std::filesystem::remove(segment_path(bodies_dir_, seg), ec);
    }
  }
}

Result<std::string> RocksSpool::read_body(const std::string& job_id,
                                          const rocksdb::ReadOptions& options, bool& external) {
  external = false;
  std::string value;
  const rocksdb::Status s = db_->Get(options, body_key(job_id), &value);
  if (s.IsNotFound()) {
    return std::string();  // the message is in the record
  }
  if (s.IsIncomplete() || options.read_tier == rocksdb::kBlockCacheTier) {
    return make_error(ErrorCode::kUnavailable, "the message is in a body segment");
  }
  if (!s.ok()) {
    return io_error(s);
  }
  const auto ref = decode_body_ref(value);
  if (!ref) {
    return make_error(ErrorCode::kCorrupt, "spool: bad body reference for " + job_id);
  }
  external = true;
  const int fd = ::open(segment_path(bodies_dir_, ref->segment).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    // kNotFound when the file is gone (its last job erased since the reference was read).
    const int err = errno;
    return make_error(
        err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kCorrupt,
        "spool: the body segment of " + job_id + " is missing: " + std::strerror(err));
  }

  // The reference must lie inside the segment: a damaged length never becomes an allocation.
  struct stat st {};

  if (::fstat(fd, &st) != 0 || ref->offset + ref->length > static_cast<std::uint64_t>(st.st_size)) {
    ::close(fd);
    return make_error(ErrorCode::kCorrupt, "spool: the body of " + job_id + " is cut short");
  }
  std::string body(ref->length, '\0');
  std::size_t got = 0;
  while (got < body.size()) {
    const ssize_t r =
        ::pread(fd, body.data() + got, body.size() - got, static_cast<off_t>(ref->offset + got));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      ::close(fd);
      return make_error(ErrorCode::kCorrupt, "spool: the body of " + job_id + " is cut short");
    }
    got += static_cast<std::size_t>(r);
  }
  ::close(fd);
  return body;
}

Result<std::size_t> RocksSpool::scan(const std::function<bool(SpoolRecord&&)>& fn,
                                     const std::function<void(const Error&)>& on_corrupt,
                                     Messages messages) {
  rocksdb::ReadOptions read;
  read.fill_cache = false;  // one pass over everything: nothing worth caching
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read));
  std::size_t n = 0;
  for (it->Seek("j/"); it->Valid() && it->key().starts_with("j/"); it->Next()) {
    const std::string job_id = it->key().ToString().substr(2);
    auto record = load(std::string_view(it->value().data(), it->value().size()), job_id, read);
    if (!record) {
      on_corrupt(Error{ErrorCode::kCorrupt, it->key().ToString() + ": " + record.error().detail});
      continue;
    }
    if (messages == Messages::kWhole && record->message.empty()) {
      bool external = false;
      auto body = read_body(job_id, read, external);
      if (!body) {
        on_corrupt(Error{ErrorCode::kCorrupt, it->key().ToString() + ": " + body.error().detail});
        continue;
      }
      record->message = std::move(*body);
    }
    ++n;
    if (!fn(std::move(*record))) {
      break;
    }
  }
  if (!it->status().ok()) {
    return io_error(it->status());
  }
  return n;
}

}  // namespace txmail::store
