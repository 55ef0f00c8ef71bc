#include "store/spool_record.h"

#include <charconv>
#include <limits>

namespace txmail::store {

namespace {

constexpr std::string_view kMagic = "TXS";

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_bytes(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

std::size_t bytes_size(std::string_view s) {
  return varint_size(s.size()) + s.size();
}

std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}

std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// The fewest bytes a recipient takes: two empty strings and three one-byte varints.
constexpr std::size_t kMinRecipientBytes = 5;

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) {
        return false;
      }
      const auto b = static_cast<unsigned char>(in_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) {
        return true;
      }
    }
    return false;
  }

  bool bytes(std::string& s) {
    std::uint64_t n = 0;
    if (!varint(n) || n > in_.size() - pos_) {
      return false;
    }
    s.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }

  bool raw(std::string_view& s, std::size_t n) {
    if (n > in_.size() - pos_) {
      return false;
    }
    s = in_.substr(pos_, n);
    pos_ += n;
    return true;
  }

  bool at_end() const { return pos_ == in_.size(); }

  std::size_t remaining() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

void put_recipients(std::string& out, const std::vector<SpoolRecipient>& recipients) {
  put_varint(out, recipients.size());
  for (const auto& rcpt : recipients) {
    put_bytes(out, rcpt.address);
    put_bytes(out, rcpt.mail_id);
    put_varint(out, static_cast<std::uint64_t>(rcpt.status));
    put_varint(out, rcpt.attempts);
    put_varint(out, zigzag(rcpt.next_attempt_ms));
  }
}

bool read_recipients(Reader& in, std::vector<SpoolRecipient>& out) {
  std::uint64_t count = 0;
  if (!in.varint(count) || count > 1'000'000 || count > in.remaining() / kMinRecipientBytes) {
    return false;
  }
  out.resize(count);
  for (auto& rcpt : out) {
    std::uint64_t status = 0;
    std::uint64_t attempts = 0;
    std::uint64_t next = 0;
    if (!in.bytes(rcpt.address) || !in.bytes(rcpt.mail_id) || !in.varint(status)
        || !in.varint(attempts) || !in.varint(next) || status > 2) {
      return false;
    }
    rcpt.status = static_cast<RecipientStatus>(status);
    rcpt.attempts = static_cast<std::uint32_t>(attempts);
    rcpt.next_attempt_ms = unzigzag(next);
  }
  return true;
}

tl::unexpected<Error> corrupt(const char* what) {
  return make_error(ErrorCode::kCorrupt, std::string("spool record: ") + what);
}

}  // namespace

std::string spool_key(std::string_view job_id) {
  std::string key = "j/";
  key.append(job_id);
  return key;
}

std::size_t encoded_size(const SpoolRecipient& recipient) {
  return bytes_size(recipient.address) + bytes_size(recipient.mail_id)
         + varint_size(static_cast<std::uint64_t>(recipient.status))
         + varint_size(recipient.attempts) + varint_size(zigzag(recipient.next_attempt_ms));
}

std::size_t encoded_head_size(const SpoolRecord& r) {
  std::size_t n = kMagic.size() + 1 + bytes_size(r.job_id) + bytes_size(r.account)
                  + bytes_size(r.sender) + varint_size(zigzag(r.received_ms)) + varint_size(r.flags)
                  + varint_size(r.recipients.size()) + varint_size(0)  // the empty message's length
                  + (r.job_data.empty() ? 0 : bytes_size(r.job_data));
  for (const auto& rcpt : r.recipients) {
    n += encoded_size(rcpt);
  }
  return n;
}

std::string encode(const SpoolRecord& r) {
  std::string out;
  out.reserve(r.message.size() + r.job_data.size() + 128 + r.recipients.size() * 96);
  out.append(kMagic);
  out.push_back(static_cast<char>(r.job_data.empty() ? SpoolRecord::kFormatVersion
                                                     : SpoolRecord::kFormatWithJobData));
  put_bytes(out, r.job_id);
  put_bytes(out, r.account);
  put_bytes(out, r.sender);
  put_varint(out, zigzag(r.received_ms));
  put_varint(out, r.flags);
  put_recipients(out, r.recipients);
  put_bytes(out, r.message);
  if (!r.job_data.empty()) {
    put_bytes(out, r.job_data);
  }
  return out;
}

std::string recipients_key(std::string_view job_id) {
  std::string key = "r/";
  key.append(job_id);
  return key;
}

std::string encode_recipients(const std::vector<SpoolRecipient>& recipients) {
  std::string out;
  out.push_back(static_cast<char>(SpoolRecord::kFormatVersion));
  put_recipients(out, recipients);
  return out;
}

Result<std::vector<SpoolRecipient>> decode_recipients(std::string_view bytes) {
  if (bytes.empty() || static_cast<std::uint8_t>(bytes[0]) != SpoolRecord::kFormatVersion) {
    return corrupt("unknown recipient state version");
  }
  Reader in(bytes.substr(1));
  std::vector<SpoolRecipient> out;
  if (!read_recipients(in, out) || !in.at_end()) {
    return corrupt("truncated recipient state");
  }
  return out;
}

Result<SpoolRecord> decode(std::string_view bytes) {
  Reader in(bytes);
  std::string_view magic;
  std::string_view version;
  if (!in.raw(magic, kMagic.size()) || magic != kMagic) {
    return corrupt("bad magic");
  }
  if (!in.raw(version, 1)
      || (static_cast<std::uint8_t>(version[0]) != SpoolRecord::kFormatVersion
          && static_cast<std::uint8_t>(version[0]) != SpoolRecord::kFormatWithJobData)) {
    return corrupt("unknown format version");
  }
  const bool with_job_data =
      static_cast<std::uint8_t>(version[0]) == SpoolRecord::kFormatWithJobData;
  SpoolRecord r;
  std::uint64_t received = 0;
  std::uint64_t flags = 0;
  std::uint64_t count = 0;
  if (!in.bytes(r.job_id) || !in.bytes(r.account) || !in.bytes(r.sender) || !in.varint(received)
      || !in.varint(flags) || !in.varint(count) || count > 1'000'000) {
    return corrupt("truncated header");
  }
  // Checked before anything is allocated for them: a damaged count must not cost a million
  // empty recipients (found by fuzz/spool_record).
  if (count > in.remaining() / kMinRecipientBytes) {
    return corrupt("recipient count past the end");
  }
  r.received_ms = unzigzag(received);
  r.flags = static_cast<std::uint32_t>(flags);
  r.recipients.resize(count);
  for (auto& rcpt : r.recipients) {
    std::uint64_t status = 0;
    std::uint64_t attempts = 0;
    std::uint64_t next = 0;
    if (!in.bytes(rcpt.address) || !in.bytes(rcpt.mail_id) || !in.varint(status)
        || !in.varint(attempts) || !in.varint(next) || status > 2) {
      return corrupt("truncated recipient");
    }
    rcpt.status = static_cast<RecipientStatus>(status);
    rcpt.attempts = static_cast<std::uint32_t>(attempts);
    rcpt.next_attempt_ms = unzigzag(next);
  }
  if (!in.bytes(r.message)) {
    return corrupt("truncated message");
  }
  if (with_job_data && (!in.bytes(r.job_data) || r.job_data.empty())) {
    return corrupt("truncated job data");
  }
  if (!in.at_end()) {
    return corrupt("bytes after the record");
  }
  return r;
}

std::string encode_body_ref(const BodyRef& ref) {
  return std::to_string(ref.segment) + ' ' + std::to_string(ref.offset) + ' '
         + std::to_string(ref.length);
}

std::optional<BodyRef> decode_body_ref(std::string_view value) {
  BodyRef ref;
  const char* p = value.data();
  const char* const end = value.data() + value.size();
  // One decimal field: digits only (from_chars takes no sign or space for unsigned types),
  // followed by a single space, or by the end for the last field.
  auto field = [&](auto& out, bool last) {
    if (p == end || *p < '0' || *p > '9') {
      return false;
    }
    const auto [q, ec] = std::from_chars(p, end, out);
    if (ec != std::errc() || (last ? q != end : (q == end || *q != ' '))) {
      return false;
    }
    p = last ? q : q + 1;
    return true;
  };
  if (!field(ref.segment, false) || !field(ref.offset, false) || !field(ref.length, true)) {
    return std::nullopt;
  }
  if (ref.length > std::numeric_limits<std::uint64_t>::max() - ref.offset) {
    return std::nullopt;
  }
  return ref;
}

std::string body_key(std::string_view job_id) {
  return "b/" + std::string(job_id);
}

}  // namespace txmail::store
