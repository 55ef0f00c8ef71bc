// The spool: every accepted job, durable before its acceptance is acknowledged (DESIGN.md
// section 4). Embedded backend: RocksSpool. The cluster backend comes with the cluster module.
//
// put() completes only after the record is synced to stable storage; implementations group
// concurrent puts into one sync (group commit). Completions run on the spool's own thread:
// callers hop back to their executor themselves. get() and scan() are for recovery and tools.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/result.h"
#include "store/spool_record.h"

namespace txmail::store {

class Spool {
 public:
  using Done = std::function<void(Result<void>)>;

  Spool() = default;
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  Spool(Spool&&) = delete;
  Spool& operator=(Spool&&) = delete;
  virtual ~Spool() = default;

  virtual void put(const SpoolRecord& record, Done done) = 0;

  // Whether a put of the record could ever be stored (kTooLarge when not: a cluster spool keeps
  // a job's recipients in one message of bounded size). put() refuses such a record too; a
  // caller with several records of one job asks first, so that none of them is stored.
  virtual Result<void> admits(const SpoolRecord& /*record*/) const { return {}; }

  // The most bytes a job's record may take without its message (encoded_head_size: envelope
  // and recipients), when the spool has such a limit: admits() refuses a job over it. The SMTP
  // listener counts against it at RCPT (452 4.5.3) rather than refuse the message at its end.
  // Called on I/O threads: answered from memory.
  virtual std::optional<std::size_t> head_limit() const { return std::nullopt; }

  // The current state of a job's recipients (attempts, next attempt, final status), written
  // apart from the message so that an attempt never rewrites the message bytes.
  virtual void update_recipients(const std::string& job_id,
                                 const std::vector<SpoolRecipient>& recipients, Done done) = 0;
  // The job leaves the spool (every recipient is final).
  virtual void erase(const std::string& job_id, Done done) = 0;
  virtual Result<std::optional<SpoolRecord>> get(const std::string& job_id) = 0;

  // get() when it can be answered from memory without touching the disk (safe on an I/O
  // thread); nullopt when it would need the disk. A fresh message is usually still in memory.
  virtual std::optional<Result<std::optional<SpoolRecord>>> get_from_memory(
      const std::string& /*job_id*/) {
    return std::nullopt;
  }
  // What scan() reads of each message: recovery needs only envelopes and recipient states;
  // tools want the whole message. kEnvelopes may still give a message kept in the record.
  enum class Messages { kEnvelopes, kWhole };
  // Visits every record in key (acceptance time) order until fn returns false. A record that
  // fails to decode (or whose message cannot be read) is reported through on_corrupt and
  // skipped.
  virtual Result<std::size_t> scan(const std::function<bool(SpoolRecord&&)>& fn,
                                   const std::function<void(const Error&)>& on_corrupt,
                                   Messages messages) = 0;

  // How many jobs the queue holds now (a hint; any thread, cheap). See RocksSpool.
  virtual void queue_size_hint(std::size_t /*jobs*/) {}

  // Completes every pending put, then refuses new ones with kUnavailable.
  virtual void close() = 0;

  // False while new jobs are refused for want of disk space (/readyz). Any thread.
  virtual bool accepting() const { return true; }

  // Cluster mode (issue site-2). may_deliver(): false while this node cannot be sure it still
  // owns its spool (its lease lapsed: the region has not confirmed it lately); delivery waits.
  // owns(): false once another node took the job over (this node was fenced); the job is
  // dropped from the queue without an event. Any thread, cheap.
  virtual bool may_deliver() const { return true; }

  virtual bool owns(const std::string& /*job_id*/) const { return true; }
};

}  // namespace txmail::store
