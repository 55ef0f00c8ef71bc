// Where a node's replicated spool lives in JetStream (issue site-2; docs/cluster.md, "The
// replicated spool"). Pure: names and sizes, no I/O.
//
// Each data site has one stream, TXMAIL_SPOOL_<site>, R3 across the region's sites, holding the
// spools of that site's nodes. A spool is named <site>/<node>/<generation>; a job of it has
//   txmail.spool.<site>.<node>.<gen>.<job>.m        the record (store::encode), message inline
//   txmail.spool.<site>.<node>.<gen>.<job>.c.<nnnn> a chunk of a message too large to go inline
//   txmail.spool.<site>.<node>.<gen>.<job>.f        the job's recipient states once one is final
//   txmail.spool.<site>.<node>.<gen>.<job>.x        a barrier written just before the job's
//                                                   messages are looked up and removed
// (<node> through encode_key, so a '.' in a name cannot add a token). The stream keeps one
// message per subject, so publishing a job again replaces it rather than adding a copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace txmail::cluster {

struct SpoolId {
  std::string site;
  std::string node;
  std::uint64_t generation = 1;

  std::string text() const;  // "a/node-a/1"
  bool operator==(const SpoolId&) const = default;
};

std::string spool_stream(std::string_view site);           // "TXMAIL_SPOOL_<site>"
std::string spool_stream_subjects(std::string_view site);  // "txmail.spool.<site>.>"
// The site token of a spool subject ("" for anything else).
std::string_view subject_site(std::string_view subject);

// "txmail.spool.<site>.<node>.<gen>.<job>": every subject of one job starts with it.
std::string job_subject(const SpoolId& spool, std::string_view job_id);
// Every subject of a spool: "txmail.spool.<site>.<node>.<gen>.>".
std::string spool_filter(const SpoolId& spool);

enum class Part : std::uint8_t { kRecord, kChunk, kFinals };

std::string part_subject(const SpoolId& spool, std::string_view job_id, Part part,
                         std::uint32_t chunk = 0);
// The Nats-Msg-Id of a part: "<spool>/<job>/m", ".../c<n>", ".../f<k>" (k: how many
// recipients are final, so the same state sent again is recognised as a duplicate).
std::string part_msg_id(const SpoolId& spool, std::string_view job_id, Part part,
                        std::uint32_t n = 0);

// The job id and part of a subject of this spool; nullopt for anything else.
struct ParsedSubject {
  std::string job_id;
  Part part = Part::kRecord;
  std::uint32_t chunk = 0;
};

std::optional<ParsedSubject> parse_part_subject(const SpoolId& spool, std::string_view subject);
// The job id of any subject of this spool's jobs (parts and barriers); nullopt for the rest.
std::optional<std::string> subject_job(const SpoolId& spool, std::string_view subject);

// A job's spool and id from any subject of a spool stream's jobs; nullopt for the rest.
struct SpoolJob {
  SpoolId spool;
  std::string job_id;
};

std::optional<SpoolJob> parse_spool_subject(std::string_view subject);

// How a message of `size` bytes is sent: inline in the record when the encoded record fits in
// one NATS message, else in chunks of `chunk_size`. The server's max_payload counts headers, so
// kHeaderRoom is kept free.
struct ChunkPlan {
  std::size_t chunks = 0;  // 0: inline
  std::size_t chunk_size = 0;
};

inline constexpr std::size_t kHeaderRoom = 4096;
inline constexpr std::size_t kMaxChunk = std::size_t{1} << 20;
ChunkPlan chunk_plan(std::size_t record_size, std::size_t message_size, std::int64_t max_payload);

// The largest message a spool stream takes (its MaxMsgSize).
inline constexpr std::int64_t kSpoolMaxMsgSize = std::int64_t{8} << 20;

// Whether a job's record part (its envelope and recipients; the message too when inline) of
// `size` bytes goes in one NATS message; a kTooLarge error naming the limit when it cannot
// (the recipients are never split: a job with too many for one message is refused at intake).
Result<void> record_part_fits(std::size_t size, std::size_t recipients, std::int64_t max_payload);
// The most bytes a record part may take (record_part_fits' limit).
std::size_t record_part_limit(std::int64_t max_payload);

}  // namespace txmail::cluster
