// The spool record and its encoding. Pure: no I/O. The encoding opens with a magic and a
// format version so a newer txmail can read every record an older one wrote; decode() refuses
// what it does not understand rather than guessing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace txmail::store {

enum class RecipientStatus : std::uint8_t {
  kQueued = 0,     // waiting for its next attempt
  kDelivered = 1,  // final
  kBounced = 2,    // final
};

struct SpoolRecipient {
  std::string address;  // the forward-path, as given in RCPT TO
  std::string mail_id;  // <jobId>#<block hex8>#<index hex8>
  RecipientStatus status = RecipientStatus::kQueued;
  std::uint32_t attempts = 0;
  std::int64_t next_attempt_ms = 0;  // Unix time in milliseconds

  bool operator==(const SpoolRecipient&) const = default;
};

struct SpoolRecord {
  // Version 1; a record with job data is written as version 2 (the same fields, then the job
  // data), so that a record without it reads the same in every release.
  static constexpr std::uint8_t kFormatVersion = 1;
  static constexpr std::uint8_t kFormatWithJobData = 2;
  static constexpr std::uint32_t kFlagSmtpUtf8 = 1U << 0;
  static constexpr std::uint32_t kFlag8BitMime = 1U << 1;

  std::string job_id;
  std::string account;
  std::string sender;  // the reverse-path; empty for the null sender
  std::int64_t received_ms = 0;
  std::uint32_t flags = 0;
  std::vector<SpoolRecipient> recipients;
  std::string message;  // the message bytes, CRLF line endings, as they will be delivered
  // Cluster mode: what the job's push notifications need (the events module's JSON of its
  // JobInfo), carried with the job so that a node that takes it over notifies as the node
  // that accepted it would, even when none of the job's events had reached the region.
  // Opaque here; empty in embedded mode (the node's event log has it).
  std::string job_data;

  bool operator==(const SpoolRecord&) const = default;
};

std::string encode(const SpoolRecord& record);
// What encode() gives for `record` without its message bytes, and what one more recipient adds
// to that: computed without encoding (the SMTP listener keeps a running total at RCPT).
std::size_t encoded_head_size(const SpoolRecord& record);
std::size_t encoded_size(const SpoolRecipient& recipient);
Result<SpoolRecord> decode(std::string_view bytes);
std::string spool_key(std::string_view job_id);

// Recipient states stored apart ("r/<jobId>"); they replace the ones in the job record.
std::string encode_recipients(const std::vector<SpoolRecipient>& recipients);
Result<std::vector<SpoolRecipient>> decode_recipients(std::string_view bytes);
std::string recipients_key(std::string_view job_id);

// Where a message kept outside its record lies: the value of "b/<jobId>", written
// "<segment> <offset> <length>" in decimal. A damaged disk is a stranger: decode_body_ref()
// takes exactly three numbers separated by single spaces whose end (offset + length) does not
// overflow, and nothing else; whether the bytes exist is the reader's to check.
struct BodyRef {
  std::uint32_t segment = 0;
  std::uint64_t offset = 0;
  std::uint64_t length = 0;

  bool operator==(const BodyRef&) const = default;
};

std::string encode_body_ref(const BodyRef& ref);
std::optional<BodyRef> decode_body_ref(std::string_view value);
std::string body_key(std::string_view job_id);

}  // namespace txmail::store
