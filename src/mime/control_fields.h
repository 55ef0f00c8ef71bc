// Control header fields of SMTP submissions (issue core-5, item 3): per-message options that
// the client sets and txmail removes before delivery. X-TXMAIL-* and the compatible
// X-RETARUS-M4A-* spellings:
//   NOTIFICATION-URL, NOTIFICATION-HEADER (repeatable "key=value"), NOTIFICATION-AUTH-METHOD
//   (BASIC), NOTIFICATION-AUTH-USER, NOTIFICATION-AUTH-PASSWORD, REFERENCE, CAMPAIGN-ID,
//   COST-CENTER.
// Every field with either prefix is removed, known or not (none of them is meant for the
// recipient). Pure: no I/O.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace txmail::mime {

struct ControlFields {
  std::string notification_url;
  std::vector<std::pair<std::string, std::string>> notification_headers;
  std::string auth_method;
  std::string auth_user;
  std::string auth_password;
  std::string reference;
  std::string campaign_id;
  std::string cost_center;
  std::size_t removed = 0;  // fields taken out of the message
};

// Takes the control fields out of the header section of `message` (CRLF lines). Returns what
// they said, or the reason they are refused (a value over its limit, a malformed header pair,
// a URL that is not http(s)).
std::pair<ControlFields, std::string> extract_control_fields(std::string& message);

}  // namespace txmail::mime
