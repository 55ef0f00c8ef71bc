// How one transaction's envelope is written to one server (RFC 6531 section 3.2): the one place
// that decides between UTF-8 and ASCII forms of the addresses. Called by ClientSession::send
// once the server's extensions are known. Pure: no I/O.
//
// - The job was submitted with SMTPUTF8 and the server offers it: MAIL FROM ... SMTPUTF8, every
//   address as it was submitted.
// - Otherwise every address goes in ASCII: its domain as an A-label (common/idna.h). An address
//   whose local part is not ASCII cannot be written so: a recipient's is a permanent failure of
//   that recipient alone, the sender's of the whole message; so is a message submitted with
//   SMTPUTF8 whose header fields hold UTF-8 (RFC 6532). Nothing is ever rewritten silently.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace txmail::smtp {

struct EnvelopeInput {
  std::string sender;                   // as submitted; empty for the null sender
  std::vector<std::string> recipients;  // as submitted
  bool smtputf8 = false;                // the job was submitted with SMTPUTF8
  bool utf8_headers = false;            // the message's header section is not ASCII
};

struct EnvelopeForm {
  bool smtputf8 = false;  // say SMTPUTF8 on MAIL
  std::string sender;
  std::vector<std::string> recipients;  // index-aligned with the input; "" when refused
  std::vector<std::string> refused;     // index-aligned: why a recipient cannot go, or ""
  std::string message_refused;          // why the whole message cannot go, or ""
};

EnvelopeForm envelope_form(const EnvelopeInput& in, bool peer_smtputf8, const std::string& host);

// True when the header section of `message` (up to the first empty line) is not ASCII.
bool utf8_header_section(std::string_view message);

}  // namespace txmail::smtp
