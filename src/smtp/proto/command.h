// SMTP command parsing (RFC 5321 section 4.1, with the parameters of SIZE RFC 1870,
// 8BITMIME RFC 6152, SMTPUTF8 RFC 6531, AUTH RFC 4954, CHUNKING RFC 3030). Pure and I/O-free:
// one line in (without its CRLF), a Command or the exact error Reply out. Fuzzed.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tl/expected.hpp>

#include "smtp/proto/address.h"
#include "smtp/proto/reply.h"

namespace txmail::smtp {

enum class Verb {
  kEhlo,
  kHelo,
  kMail,
  kRcpt,
  kData,
  kBdat,
  kRset,
  kNoop,
  kQuit,
  kVrfy,
  kExpn,
  kHelp,
  kStartTls,
  kAuth,
};

enum class BodyType { k7Bit, k8BitMime };

struct Command {
  Verb verb = Verb::kNoop;
  std::string domain;                           // EHLO/HELO argument
  Mailbox path;                                 // MAIL FROM / RCPT TO
  std::optional<std::uint64_t> size;            // MAIL SIZE=
  BodyType body = BodyType::k7Bit;              // MAIL BODY=
  bool smtputf8 = false;                        // MAIL SMTPUTF8
  std::uint64_t chunk_size = 0;                 // BDAT size
  bool last_chunk = false;                      // BDAT LAST
  std::string mechanism;                        // AUTH mechanism, upper-cased
  std::optional<std::string> initial_response;  // AUTH initial response ("=" means empty)
};

// The longest command line accepted, CRLF included (RFC 5321 section 4.5.3.1.4 says 512; AUTH
// lines with an initial response and clients with long parameters need more).
constexpr std::size_t kMaxCommandLine = 1000;

// Parses one command line, without its line terminator.
tl::expected<Command, Reply> parse_command(std::string_view line);

}  // namespace txmail::smtp
