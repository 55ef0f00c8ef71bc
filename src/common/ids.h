// Identifiers. A job id is a UUIDv7 (RFC 9562 section 5.7): time-ordered, so spool keys sort
// by acceptance time. A mail id names one recipient of one job: "<jobId>#<block hex8>#<hex8>",
// where the block is the MIME message the recipient shares with others of its block and the
// last part is the recipient's index in that block.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace txmail {

std::string new_job_id();
inline constexpr std::size_t kJobIdSize = 36;  // what new_job_id() gives
std::string mail_id(const std::string& job_id, std::uint32_t block, std::uint32_t index);
bool is_job_id(std::string_view s);

// A REST job of several recipient blocks is spooled as one record per block: block 0 under the
// job id, block k under this id (the job id with k XORed into its last 32 random bits, so the
// same call maps it back). mail_id_of() gives a recipient's mail id from its record's id.
std::string block_record_id(std::string_view id, std::uint32_t block);
std::string mail_id_of(const std::string& record_id, std::uint32_t block, std::uint32_t index);

// A job id as its 16 bytes, for tables that hold millions of them.
using JobKey = std::array<std::uint8_t, 16>;
std::optional<JobKey> job_key(std::string_view job_id);  // nullopt unless is_job_id
std::string job_id_of(const JobKey& key);

struct JobKeyHash {
  std::size_t operator()(const JobKey& k) const noexcept;
};

// Random bytes from the OpenSSL CSPRNG; aborts if it fails (nothing safe can continue).
void random_bytes(void* out, std::size_t n);
std::string hex(std::string_view bytes);
// The value of a hex digit (either case), or -1.
int hex_value(char c);

}  // namespace txmail
