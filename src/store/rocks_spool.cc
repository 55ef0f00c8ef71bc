#include "store/rocks_spool.h"

#include <rocksdb/db.h>
#include <rocksdb/cache.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <utility>

#include "common/log.h"
#include <vector>

namespace txmail::store {

namespace {

tl::unexpected<Error> io_error(const rocksdb::Status& s) {
  return make_error(ErrorCode::kIo, "rocksdb: " + s.ToString());
}

}  // namespace

Result<std::unique_ptr<RocksSpool>> RocksSpool::open(const std::string& dir, Mode mode) {
  rocksdb::Options options;
  options.create_if_missing = mode == Mode::kReadWrite;
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
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = mode == Mode::kReadWrite
                                ? rocksdb::DB::Open(options, dir, &raw)
                                : rocksdb::DB::OpenForReadOnly(options, dir, &raw);
  if (!s.ok()) {
    return io_error(s);
  }
  return std::unique_ptr<RocksSpool>(new RocksSpool(std::unique_ptr<rocksdb::DB>(raw), mode));
}

RocksSpool::RocksSpool(std::unique_ptr<rocksdb::DB> db, Mode mode) : db_(std::move(db)) {
  if (mode == Mode::kReadWrite) {
    writer_ = std::thread([this] { writer_loop(); });
  } else {
    closing_ = true;
  }
}

RocksSpool::~RocksSpool() {
  close();
}

void RocksSpool::put(const SpoolRecord& record, Done done) {
  Pending p;
  p.writes.emplace_back(spool_key(record.job_id), encode(record));
  p.done = std::move(done);
  enqueue(std::move(p));
}

void RocksSpool::update_recipients(const std::string& job_id,
                                   const std::vector<SpoolRecipient>& recipients, Done done) {
  Pending p;
  p.writes.emplace_back(recipients_key(job_id), encode_recipients(recipients));
  p.done = std::move(done);
  enqueue(std::move(p));
}

void RocksSpool::erase(const std::string& job_id, Done done) {
  Pending p;
  p.writes.emplace_back(spool_key(job_id), std::nullopt);
  p.writes.emplace_back(recipients_key(job_id), std::nullopt);
  p.done = std::move(done);
  enqueue(std::move(p));
}

void RocksSpool::queue_size_hint(std::size_t jobs) {
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
      queue_.push_back(std::move(p));
      wake_.notify_one();
      return;
    }
  }
  p.done(make_error(ErrorCode::kUnavailable, "spool is closed"));
}

void RocksSpool::writer_loop() {
  std::vector<Pending> group;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] {
        return closing_ || !queue_.empty() || memtables_changed_.load(std::memory_order_acquire);
      });
      if (memtables_changed_.exchange(false)) {
        lock.unlock();
        // SetOptions writes an OPTIONS file: here, never on an I/O thread.
        const std::size_t size =
            large_memtables_.load(std::memory_order_relaxed) ? kLargeMemtable : kSmallMemtable;
        const auto s = db_->SetOptions({{"write_buffer_size", std::to_string(size)}});
        if (!s.ok()) {
          logger()->warn("spool: memtable size change failed: {}", s.ToString());
        }
        lock.lock();
      }
      if (queue_.empty()) {
        if (closing_) {
          return;  // closing, and every pending put has been written
        }
        continue;
      }
      group.assign(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
      queue_.clear();
    }
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
    rocksdb::WriteOptions options;
    options.sync = true;
    const rocksdb::Status s = db_->Write(options, &batch);
    {
      std::lock_guard lock(mutex_);
      stats_.syncs += 1;
      stats_.records += group.size();
    }
    for (auto& p : group) {
      p.done(s.ok() ? Result<void>() : Result<void>(io_error(s)));
    }
    group.clear();
  }
}

void RocksSpool::close() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    wake_.notify_one();
  }
  if (writer_.joinable()) {
    writer_.join();
  }
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
                                                    const rocksdb::ReadOptions& options) {
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

Result<std::size_t> RocksSpool::scan(const std::function<bool(SpoolRecord&&)>& fn,
                                     const std::function<void(const Error&)>& on_corrupt) {
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
