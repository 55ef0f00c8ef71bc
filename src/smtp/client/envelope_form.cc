#include "smtp/client/envelope_form.h"

#include "common/idna.h"

namespace txmail::smtp {

namespace {

std::string_view local_part(std::string_view address) {
  const std::size_t at = address.rfind('@');
  return at == std::string_view::npos ? address : address.substr(0, at);
}

// The ASCII form of an address, or "" when it has none (a non-ASCII local part).
std::string ascii_form(std::string_view address) {
  if (!idna::is_ascii(local_part(address))) {
    return {};
  }
  return idna::address_key(address);
}

}  // namespace

bool utf8_header_section(std::string_view message) {
  std::size_t end = message.find("\r\n\r\n");
  end = message.starts_with("\r\n") ? 0 : end;
  return !idna::is_ascii(message.substr(0, end));
}

EnvelopeForm envelope_form(const EnvelopeInput& in, bool peer_smtputf8, const std::string& host) {
  EnvelopeForm out;
  out.refused.resize(in.recipients.size());
  if (in.smtputf8 && peer_smtputf8) {
    out.smtputf8 = true;
    out.sender = in.sender;
    out.recipients = in.recipients;
    return out;
  }
  const std::string no_utf8 = " and " + host + " does not offer SMTPUTF8 (RFC 6531 section 3.2)";
  if (in.smtputf8 && in.utf8_headers) {
    out.message_refused = "the message has UTF-8 header fields" + no_utf8;
    return out;
  }
  out.sender = in.sender.empty() ? std::string() : ascii_form(in.sender);
  if (!in.sender.empty() && out.sender.empty()) {
    out.message_refused = "the sender's local part is not ASCII" + no_utf8;
    return out;
  }
  out.recipients.reserve(in.recipients.size());
  for (std::size_t i = 0; i < in.recipients.size(); ++i) {
    out.recipients.push_back(ascii_form(in.recipients[i]));
    if (out.recipients.back().empty()) {
      out.refused[i] = "the recipient's local part is not ASCII" + no_utf8;
    }
  }
  return out;
}

}  // namespace txmail::smtp
