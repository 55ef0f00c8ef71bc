#include "smtp/proto/command.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace txmail::smtp {

namespace {

char upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return upper(x) == upper(y);
         });
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

tl::unexpected<Reply> fail(int code, const char* enhanced, const char* text) {
  return tl::unexpected(Reply(code, enhanced, text));
}

constexpr std::array<std::pair<std::string_view, Verb>, 14> kVerbs = {{
    {"EHLO", Verb::kEhlo},
    {"HELO", Verb::kHelo},
    {"MAIL", Verb::kMail},
    {"RCPT", Verb::kRcpt},
    {"DATA", Verb::kData},
    {"BDAT", Verb::kBdat},
    {"RSET", Verb::kRset},
    {"NOOP", Verb::kNoop},
    {"QUIT", Verb::kQuit},
    {"VRFY", Verb::kVrfy},
    {"EXPN", Verb::kExpn},
    {"HELP", Verb::kHelp},
    {"STARTTLS", Verb::kStartTls},
    {"AUTH", Verb::kAuth},
}};

bool parse_uint(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 20) {
    return false;
  }
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

tl::unexpected<Reply> path_error(PathError e, bool sender) {
  // RFC 3463: X.1.7 is a bad sender address, X.1.3 a bad recipient address.
  const char* enhanced = sender ? "5.1.7" : "5.1.3";
  switch (e) {
    case PathError::kSyntax:
      return fail(501, enhanced, "Syntax error in mailbox address");
    case PathError::kLocalPart:
      return fail(501, enhanced, "Invalid local part in address");
    case PathError::kDomain:
      return fail(501, enhanced, "Invalid domain in address");
    case PathError::kTooLong:
      return fail(501, enhanced, "Address too long");
    case PathError::kInvalidUtf8:
      return fail(501, enhanced, "Address is not valid UTF-8");
  }
  return fail(501, enhanced, "Invalid address");
}

tl::expected<Command, Reply> parse_mail_params(Command cmd, std::string_view params) {
  bool seen_size = false;
  bool seen_body = false;
  bool seen_auth = false;
  while (!(params = trim(params)).empty()) {
    const std::size_t sp = params.find(' ');
    const std::string_view token = params.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view() : params.substr(sp);
    const std::size_t eq = token.find('=');
    const std::string_view key = token.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : token.substr(eq + 1);
    if (iequals(key, "SIZE") && eq != std::string_view::npos) {
      std::uint64_t n = 0;
      if (seen_size || !parse_uint(value, n)) {
        return fail(501, "5.5.4", "Invalid SIZE parameter");
      }
      seen_size = true;
      cmd.size = n;
    } else if (iequals(key, "BODY") && eq != std::string_view::npos) {
      if (seen_body) {
        return fail(501, "5.5.4", "Duplicate BODY parameter");
      }
      seen_body = true;
      if (iequals(value, "7BIT")) {
        cmd.body = BodyType::k7Bit;
      } else if (iequals(value, "8BITMIME")) {
        cmd.body = BodyType::k8BitMime;
      } else {
        return fail(555, "5.5.4", "Unsupported BODY type");
      }
    } else if (iequals(key, "SMTPUTF8") && eq == std::string_view::npos) {
      cmd.smtputf8 = true;
    } else if (iequals(key, "AUTH") && eq != std::string_view::npos && !seen_auth) {
      seen_auth = true;  // RFC 4954 section 5: accepted and not trusted
    } else {
      return fail(555, "5.5.4", "Unsupported MAIL parameter");
    }
  }
  return cmd;
}

tl::expected<Command, Reply> parse_path_command(Command cmd, std::string_view arg,
                                                std::string_view keyword) {
  if (!istarts_with(arg, keyword)) {
    return fail(
        501, "5.5.4",
        cmd.verb == Verb::kMail ? "Syntax: MAIL FROM:<address>" : "Syntax: RCPT TO:<address>");
  }
  // Tolerate "MAIL FROM: <a@b>", which many clients send (RFC 5321 has no space there).
  std::string_view rest = trim(arg.substr(keyword.size()));
  const bool sender = cmd.verb == Verb::kMail;
  std::size_t used = 0;
  auto box = parse_path(rest, sender, used);
  if (!box) {
    return path_error(box.error(), sender);
  }
  cmd.path = std::move(*box);
  rest = rest.substr(used);
  if (!rest.empty() && rest.front() != ' ') {
    return path_error(PathError::kSyntax, sender);
  }
  if (sender) {
    return parse_mail_params(std::move(cmd), rest);
  }
  if (!trim(rest).empty()) {
    return fail(555, "5.5.4", "Unsupported RCPT parameter");
  }
  return cmd;
}

tl::expected<Command, Reply> parse_bdat(Command cmd, std::string_view arg) {
  const std::size_t sp = arg.find(' ');
  const std::string_view size = arg.substr(0, sp);
  const std::string_view rest =
      sp == std::string_view::npos ? std::string_view() : trim(arg.substr(sp));
  if (!parse_uint(size, cmd.chunk_size)) {
    return fail(501, "5.5.4", "Syntax: BDAT size [LAST]");
  }
  if (iequals(rest, "LAST")) {
    cmd.last_chunk = true;
  } else if (!rest.empty()) {
    return fail(501, "5.5.4", "Syntax: BDAT size [LAST]");
  }
  return cmd;
}

tl::expected<Command, Reply> parse_auth(Command cmd, std::string_view arg) {
  const std::size_t sp = arg.find(' ');
  const std::string_view mech = arg.substr(0, sp);
  if (mech.empty() || mech.size() > 20) {
    return fail(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
  }
  for (char c : mech) {
    cmd.mechanism.push_back(upper(c));
  }
  if (sp != std::string_view::npos) {
    const std::string_view initial = trim(arg.substr(sp));
    if (initial.empty() || initial.find(' ') != std::string_view::npos) {
      return fail(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
    }
    cmd.initial_response = std::string(initial);
  }
  return cmd;
}

}  // namespace

tl::expected<Command, Reply> parse_command(std::string_view line) {
  if (line.size() + 2 > kMaxCommandLine) {
    return fail(500, "5.5.2", "Line too long");
  }
  if (line.find('\0') != std::string_view::npos || line.find('\r') != std::string_view::npos
      || line.find('\n') != std::string_view::npos) {
    return fail(500, "5.5.2", "Invalid character in command");
  }
  const std::size_t sp = line.find(' ');
  const std::string_view word = line.substr(0, sp);
  const std::string_view arg =
      sp == std::string_view::npos ? std::string_view() : trim(line.substr(sp + 1));
  const auto* found = std::find_if(kVerbs.begin(), kVerbs.end(),
                                   [&](const auto& entry) { return iequals(word, entry.first); });
  if (found == kVerbs.end()) {
    return fail(500, "5.5.1", "Command unrecognized");
  }
  Command cmd;
  cmd.verb = found->second;
  switch (cmd.verb) {
    case Verb::kEhlo:
    case Verb::kHelo:
      if (arg.empty() || arg.find(' ') != std::string_view::npos || arg.size() > 255) {
        return fail(501, "5.5.4",
                    cmd.verb == Verb::kEhlo ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
      }
      cmd.domain = std::string(arg);
      return cmd;
    case Verb::kMail:
      return parse_path_command(std::move(cmd), arg, "FROM:");
    case Verb::kRcpt:
      return parse_path_command(std::move(cmd), arg, "TO:");
    case Verb::kBdat:
      return parse_bdat(std::move(cmd), arg);
    case Verb::kAuth:
      return parse_auth(std::move(cmd), arg);
    case Verb::kData:
    case Verb::kRset:
    case Verb::kQuit:
    case Verb::kStartTls:
      if (!arg.empty()) {
        return fail(501, "5.5.4", "Syntax error: no parameters allowed");
      }
      return cmd;
    case Verb::kNoop:
    case Verb::kHelp:
    case Verb::kVrfy:
    case Verb::kExpn:
      return cmd;
  }
  return fail(500, "5.5.1", "Command unrecognized");
}

}  // namespace txmail::smtp
