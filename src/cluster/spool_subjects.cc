#include "cluster/spool_subjects.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>

#include "cluster/key_codec.h"

namespace txmail::cluster {

std::string SpoolId::text() const {
  return fmt::format("{}/{}/{}", site, node, generation);
}

std::string spool_stream(std::string_view site) {
  return fmt::format("TXMAIL_SPOOL_{}", site);
}

std::string spool_stream_subjects(std::string_view site) {
  return fmt::format("txmail.spool.{}.>", site);
}

std::string_view subject_site(std::string_view subject) {
  constexpr std::string_view kPrefix = "txmail.spool.";
  if (!subject.starts_with(kPrefix)) {
    return {};
  }
  subject.remove_prefix(kPrefix.size());
  return subject.substr(0, subject.find('.'));
}

std::string spool_filter(const SpoolId& spool) {
  return fmt::format("txmail.spool.{}.{}.{}.>", spool.site, encode_key(spool.node),
                     spool.generation);
}

std::string job_subject(const SpoolId& spool, std::string_view job_id) {
  return fmt::format("txmail.spool.{}.{}.{}.{}", spool.site, encode_key(spool.node),
                     spool.generation, job_id);
}

std::string part_subject(const SpoolId& spool, std::string_view job_id, Part part,
                         std::uint32_t chunk) {
  switch (part) {
    case Part::kRecord:
      return job_subject(spool, job_id) + ".m";
    case Part::kChunk:
      return fmt::format("{}.c.{:04}", job_subject(spool, job_id), chunk);
    case Part::kFinals:
      return job_subject(spool, job_id) + ".f";
  }
  return {};
}

std::string part_msg_id(const SpoolId& spool, std::string_view job_id, Part part, std::uint32_t n) {
  switch (part) {
    case Part::kRecord:
      return fmt::format("{}/{}/m", spool.text(), job_id);
    case Part::kChunk:
      return fmt::format("{}/{}/c{}", spool.text(), job_id, n);
    case Part::kFinals:
      return fmt::format("{}/{}/f{}", spool.text(), job_id, n);
  }
  return {};
}

namespace {

// The job id and what follows "<job>." in a subject of this spool's jobs.
std::optional<std::pair<std::string_view, std::string_view>> split_subject(
    const SpoolId& spool, std::string_view subject) {
  const std::string prefix =
      fmt::format("txmail.spool.{}.{}.{}.", spool.site, encode_key(spool.node), spool.generation);
  if (!subject.starts_with(prefix)) {
    return std::nullopt;
  }
  subject.remove_prefix(prefix.size());
  const auto dot = subject.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == subject.size()) {
    return std::nullopt;
  }
  return std::make_pair(subject.substr(0, dot), subject.substr(dot + 1));
}

}  // namespace

std::optional<std::string> subject_job(const SpoolId& spool, std::string_view subject) {
  auto split = split_subject(spool, subject);
  if (!split) {
    return std::nullopt;
  }
  return std::string(split->first);
}

std::optional<SpoolJob> parse_spool_subject(std::string_view subject) {
  // txmail.spool.<site>.<node>.<gen>.<job>.<part...>
  constexpr std::string_view kPrefix = "txmail.spool.";
  if (!subject.starts_with(kPrefix)) {
    return std::nullopt;
  }
  subject.remove_prefix(kPrefix.size());
  std::array<std::string_view, 4> tokens;
  for (auto& token : tokens) {
    const auto dot = subject.find('.');
    if (dot == 0 || dot == std::string_view::npos) {
      return std::nullopt;
    }
    token = subject.substr(0, dot);
    subject.remove_prefix(dot + 1);
  }
  auto node = decode_key(tokens[1]);
  SpoolJob out{.spool = {.site = std::string(tokens[0]), .node = {}, .generation = 0},
               .job_id = std::string(tokens[3])};
  const std::string_view gen = tokens[2];
  auto [ptr, ec] = std::from_chars(gen.data(), gen.data() + gen.size(), out.spool.generation);
  if (!node || subject.empty() || ec != std::errc() || ptr != gen.data() + gen.size()
      || out.spool.generation == 0) {
    return std::nullopt;
  }
  out.spool.node = std::move(*node);
  return out;
}

std::optional<ParsedSubject> parse_part_subject(const SpoolId& spool, std::string_view subject) {
  auto split = split_subject(spool, subject);
  if (!split) {
    return std::nullopt;
  }
  ParsedSubject p{.job_id = std::string(split->first)};
  const std::string_view rest = split->second;
  if (rest == "m") {
    p.part = Part::kRecord;
    return p;
  }
  if (rest == "f") {
    p.part = Part::kFinals;
    return p;
  }
  if (rest.size() == 6 && rest.starts_with("c.")) {
    const std::string_view digits = rest.substr(2);
    const auto* end = digits.data() + digits.size();
    auto [ptr, ec] = std::from_chars(digits.data(), end, p.chunk);
    if (ec == std::errc() && ptr == end) {
      p.part = Part::kChunk;
      return p;
    }
  }
  return std::nullopt;
}

ChunkPlan chunk_plan(std::size_t record_size, std::size_t message_size, std::int64_t max_payload) {
  const std::size_t payload =
      max_payload > 0 ? static_cast<std::size_t>(max_payload) : std::size_t{1} << 20;
  const std::size_t limit = std::min(kMaxChunk, payload) - std::min(kHeaderRoom, payload / 2);
  if (record_size <= limit) {
    return {};
  }
  // The record without its message is small (envelope and recipients); what must not fit is
  // the message. A record too large even without it is refused by the stream (MaxMsgSize).
  const std::size_t chunks = (message_size + limit - 1) / limit;
  return {.chunks = std::max<std::size_t>(chunks, 1), .chunk_size = limit};
}

std::size_t record_part_limit(std::int64_t max_payload) {
  const auto payload = static_cast<std::size_t>(
      std::min(max_payload > 0 ? max_payload : std::int64_t{1} << 20, kSpoolMaxMsgSize));
  return payload - std::min(kHeaderRoom, payload / 2);
}

Result<void> record_part_fits(std::size_t size, std::size_t recipients, std::int64_t max_payload) {
  const std::size_t limit = record_part_limit(max_payload);
  if (size <= limit) {
    return {};
  }
  return make_error(ErrorCode::kTooLarge,
                    fmt::format("the job's envelope and {} recipients take {} bytes; the region "
                                "stores at most {} in one message (max_payload): send it to "
                                "fewer recipients at a time",
                                recipients, size, limit));
}

}  // namespace txmail::cluster
