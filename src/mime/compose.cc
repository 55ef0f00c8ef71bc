#include "mime/compose.h"

#include <algorithm>
#include <optional>

#include "common/base64.h"
#include "common/ids.h"
#include "mime/headers.h"

namespace txmail::mime {

namespace {

constexpr std::size_t kLine = 78;  // RFC 5322 section 2.1.1: SHOULD not exceed 78

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u >= 0x20 && u < 0x7F) || c == '\t';
  });
}

// Length of the UTF-8 sequence a lead byte starts (1 for anything that is not a lead byte).
std::size_t utf8_len(unsigned char lead) {
  return lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
}

// Appends tokens to a header, folding before a token that would pass 78 octets (CRLF SP).
class Folder {
 public:
  explicit Folder(std::string name) : out_(std::move(name) + ":"), line_(out_.size()) {}

  // `sep` goes before the token on the same line (" " or ", "); a fold replaces its space.
  void add(std::string_view sep, std::string_view token) {
    const bool first = first_;
    if (first_) {
      sep = " ";
      first_ = false;
    }
    // Never right after the field name: some parsers keep that fold as a leading space.
    if (!first && line_ + sep.size() + token.size() > kLine && line_ > 1) {
      const std::string_view trimmed = sep.substr(0, sep.find_last_not_of(' ') + 1);
      out_.append(trimmed);
      out_.append("\r\n ");
      line_ = 1;
    } else {
      out_.append(sep);
      line_ += sep.size();
    }
    out_.append(token);
    line_ += token.size();
  }

  std::string done() { return std::move(out_) + "\r\n"; }

  std::size_t line() const { return line_; }

 private:
  std::string out_;
  std::size_t line_;
  bool first_ = true;
};

// Encoded words of at most 75 octets: 45 input octets (60 base64 characters), split at
// character boundaries; the first one smaller when the line it starts has less room.
std::vector<std::string> words_of(std::string_view utf8, std::size_t first_max = 45) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < utf8.size()) {
    const std::size_t max = out.empty() ? std::max<std::size_t>(first_max, 6) : 45;
    std::size_t end = i;
    while (end < utf8.size()) {
      const std::size_t n = utf8_len(static_cast<unsigned char>(utf8[end]));
      if (end + n - i > max) {
        break;
      }
      end += n;
    }
    if (end == i) {
      end = std::min(utf8.size(), i + 1);
    }
    out.push_back("=?UTF-8?B?" + base64_encode(utf8.substr(i, end - i)) + "?=");
    i = end;
  }
  return out;
}

// RFC 5322 atext, and the space between words of a phrase.
bool phrase_safe(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0
           || std::string_view("!#$%&'*+-/=?^_`{|}~ ").find(c) != std::string_view::npos;
  });
}

// Tokens of a display name: as is, quoted, or encoded words.
std::vector<std::string> name_tokens(std::string_view name) {
  if (name.empty()) {
    return {};
  }
  if (printable_ascii(name) && name.find("=?") == std::string_view::npos) {
    if (phrase_safe(name) && name.front() != ' ' && name.back() != ' '
        && name.find("  ") == std::string_view::npos) {
      std::vector<std::string> out;
      std::size_t i = 0;
      while (i <= name.size()) {
        const std::size_t sp = name.find(' ', i);
        out.emplace_back(name.substr(i, sp - i));
        if (sp == std::string_view::npos) {
          break;
        }
        i = sp + 1;
      }
      return out;
    }
    std::string q = "\"";
    for (char c : name) {
      if (c == '"' || c == '\\') {
        q.push_back('\\');
      }
      q.push_back(c);
    }
    q.push_back('"');
    return {q};
  }
  return words_of(name);
}

void add_mailboxes(Folder& f, const std::vector<Mailbox>& list) {
  bool first = true;
  for (const auto& m : list) {
    const auto tokens = name_tokens(m.name);
    std::string_view sep = first ? " " : ", ";
    for (const auto& t : tokens) {
      f.add(sep, t);
      sep = " ";
    }
    f.add(sep, tokens.empty() ? m.address : "<" + m.address + ">");
    first = false;
  }
}

// Unstructured text (Subject, x-headers): folded at spaces, or encoded words when it is not
// plain ASCII, looks like an encoded word, or has a word too long to fold.
std::string unstructured(const std::string& name, std::string_view value) {
  Folder f(name);
  bool encode = !printable_ascii(value) || value.find("=?") != std::string_view::npos;
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (!encode && i <= value.size()) {
    const std::size_t sp = value.find(' ', i);
    const std::string_view w = value.substr(i, sp == std::string_view::npos ? sp : sp - i);
    if (w.size() > kLine - 2 || w.empty()) {
      encode = true;  // a long word, or spaces that unfolding would not give back
    }
    words.push_back(w);
    if (sp == std::string_view::npos) {
      break;
    }
    i = sp + 1;
  }
  if (encode) {
    // The first word fits on the field's first line: "Name: =?UTF-8?B?...?=".
    const std::size_t room = kLine > f.line() + 13 ? kLine - f.line() - 13 : 0;
    for (const auto& w : words_of(value, room / 4 * 3)) {
      f.add(" ", w);
    }
  } else {
    for (const auto& w : words) {
      f.add(" ", w);
    }
  }
  return f.done();
}

bool attr_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0
         || std::string_view("!#$&+-.^_`|~").find(c) != std::string_view::npos;
}

// A MIME parameter (RFC 2045, RFC 2231): quoted when short ASCII, else percent-encoded UTF-8,
// split into numbered sections of at most 60 characters. Each piece starts with ";".
std::vector<std::string> parameter(const std::string& attribute, std::string_view value) {
  if (printable_ascii(value) && value.size() <= 60) {
    std::string q = "; " + attribute + "=\"";
    for (char c : value) {
      if (c == '"' || c == '\\') {
        q.push_back('\\');
      }
      q.push_back(c);
    }
    return {q + "\""};
  }
  std::vector<std::string> pieces;  // percent-encoded, not splitting an escape
  std::string current;
  for (char c : value) {
    std::string enc;
    if (attr_char(c)) {
      enc.push_back(c);
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      const auto u = static_cast<unsigned char>(c);
      enc = {'%', kHex[u >> 4], kHex[u & 15]};
    }
    if (current.size() + enc.size() > 60) {
      pieces.push_back(std::move(current));
      current.clear();
    }
    current += enc;
  }
  pieces.push_back(std::move(current));
  if (pieces.size() == 1) {
    return {"; " + attribute + "*=utf-8''" + pieces[0]};
  }
  std::vector<std::string> out;
  for (std::size_t k = 0; k < pieces.size(); ++k) {
    out.push_back("; " + attribute + "*" + std::to_string(k) + "*=" + (k == 0 ? "utf-8''" : "")
                  + pieces[k]);
  }
  return out;
}

// A header line with parameters, each on its own continuation line when long.
std::string with_params(const std::string& field, const std::vector<std::string>& params) {
  std::string out = field;
  std::size_t line = out.size();
  for (const auto& p : params) {
    if (line + p.size() > kLine) {
      out += ";\r\n " + p.substr(2);
      line = p.size() - 1;
    } else {
      out += p;
      line += p.size();
    }
  }
  return out + "\r\n";
}

struct Entity {
  std::string headers;  // Content-* fields, each ending in CRLF
  std::string body;
};

Entity text_entity(const char* subtype, std::string_view content) {
  const std::string text = crlf_lines(content);
  std::size_t longest = 0;
  std::size_t run = 0;
  std::size_t high = 0;
  for (char c : text) {
    high += static_cast<unsigned char>(c) >= 0x80 ? 1 : 0;
    run = c == '\n' ? 0 : run + 1;
    longest = std::max(longest, run);
  }
  Entity e;
  e.headers = std::string("Content-Type: text/") + subtype + "; charset=utf-8\r\n";
  bool controls = false;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    controls = controls || (u < 0x20 && c != '\r' && c != '\n' && c != '\t') || u == 0x7F;
  }
  if (high == 0 && !controls && longest <= kLine) {
    e.headers += "Content-Transfer-Encoding: 7bit\r\n";
    e.body = text;
  } else if (high * 3 > text.size()) {
    e.headers += "Content-Transfer-Encoding: base64\r\n";
    e.body = base64_lines(text);
  } else {
    e.headers += "Content-Transfer-Encoding: quoted-printable\r\n";
    e.body = quoted_printable(text);
  }
  return e;
}

Entity attachment_entity(const Attachment& a, bool inline_part) {
  Entity e;
  e.headers = with_params("Content-Type: " + a.content_type, parameter("name", a.name));
  e.headers +=
      with_params(std::string("Content-Disposition: ") + (inline_part ? "inline" : "attachment"),
                  parameter("filename", a.name));
  if (!a.content_id.empty()) {
    e.headers += "Content-ID: <" + a.content_id + ">\r\n";
  }
  e.headers += "Content-Transfer-Encoding: base64\r\n";
  e.body = base64_lines(a.data);
  return e;
}

std::string new_boundary() {
  std::string raw(12, '\0');
  random_bytes(raw.data(), raw.size());
  return "=_txm_" + hex(raw);
}

Entity multipart(const char* subtype, const std::vector<Entity>& parts, const char* extra = "") {
  std::string boundary;
  for (;;) {
    boundary = new_boundary();
    const bool clash = std::any_of(parts.begin(), parts.end(), [&](const Entity& p) {
      return p.body.find(boundary) != std::string::npos;
    });
    if (!clash) {
      break;
    }
  }
  Entity e;
  e.headers = std::string("Content-Type: multipart/") + subtype + ";" + extra + "\r\n boundary=\""
              + boundary + "\"\r\n";
  // The CRLF before a delimiter belongs to the delimiter (RFC 2046 section 5.1.1): a part that
  // ends in a line break keeps it.
  for (const auto& p : parts) {
    e.body += "--" + boundary + "\r\n" + p.headers + "\r\n" + p.body + "\r\n";
  }
  e.body += "--" + boundary + "--\r\n";
  return e;
}

}  // namespace

bool header_safe(std::string_view value) {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool valid_field_name(std::string_view name) {
  if (name.empty() || name.size() > 76) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 33 && u <= 126 && c != ':';
  });
}

std::string encode_words(std::string_view utf8, std::size_t /*first_line_used*/) {
  std::string out;
  for (const auto& w : words_of(utf8)) {
    out += (out.empty() ? "" : "\r\n ") + w;
  }
  return out;
}

std::string crlf_lines(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 40);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < text.size() && text[i + 1] == '\n') {
        ++i;
      }
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string quoted_printable(std::string_view data) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(data.size() + data.size() / 8);
  std::size_t line = 0;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') {
      out += "\r\n";
      line = 0;
      ++i;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    const bool at_eol = i + 1 == data.size() || data[i + 1] == '\r';
    const bool literal = (u >= 33 && u <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_eol);
    const std::size_t width = literal ? 1 : 3;
    // 76 characters a line at most, the soft break's '=' included.
    if (line + width > 75) {
      out += "=\r\n";
      line = 0;
    }
    if (literal) {
      out.push_back(c);
    } else {
      out += {'=', kHex[u >> 4], kHex[u & 15]};
    }
    line += width;
  }
  return out;
}

std::string base64_lines(std::string_view data) {
  const std::string b = base64_encode(data);
  std::string out;
  out.reserve(b.size() + b.size() / 38 + 2);
  for (std::size_t i = 0; i < b.size(); i += 76) {
    out.append(b, i, 76);
    out += "\r\n";
  }
  return out;
}

std::string format_mailbox(const Mailbox& m) {
  Folder f("X");
  add_mailboxes(f, {m});
  std::string s = f.done();
  return s.substr(3, s.size() - 5);
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
std::string compose(const Composition& c) {
  std::string out;
  out += "Date: " + rfc5322_date(c.date) + "\r\n";
  {
    Folder f("From");
    add_mailboxes(f, {c.from});
    out += f.done();
  }
  if (!c.to.empty()) {
    Folder f("To");
    add_mailboxes(f, c.to);
    out += f.done();
  }
  if (!c.cc.empty()) {
    Folder f("Cc");
    add_mailboxes(f, c.cc);
    out += f.done();
  }
  if (!c.reply_to.empty()) {
    Folder f("Reply-To");
    add_mailboxes(f, c.reply_to);
    out += f.done();
  }
  out += unstructured("Subject", c.subject);
  out += "Message-ID: <" + c.message_id + ">\r\n";
  if (!c.in_reply_to.empty()) {
    const std::string id = c.in_reply_to.front() == '<' ? c.in_reply_to : "<" + c.in_reply_to + ">";
    out += "In-Reply-To: " + id + "\r\nReferences: " + id + "\r\n";
  }
  switch (c.priority) {
    case Priority::kHigh:
      out += "X-Priority: 1 (Highest)\r\nImportance: high\r\n";
      break;
    case Priority::kLow:
      out += "X-Priority: 5 (Lowest)\r\nImportance: low\r\n";
      break;
    case Priority::kNormal:
      out += "X-Priority: 3 (Normal)\r\nImportance: normal\r\n";
      break;
    case Priority::kNone:
      break;
  }
  if (!c.list_unsubscribe.empty()) {
    out += "List-Unsubscribe: <" + c.list_unsubscribe + ">";
    if (!c.list_unsubscribe_mailto.empty()) {
      out += ",\r\n <" + c.list_unsubscribe_mailto + ">";
    }
    out += "\r\n";
    if (c.list_unsubscribe.starts_with("https://")) {
      out += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
    }
  }
  for (const auto& [name, value] : c.extra_headers) {
    out += unstructured(name, value);
  }
  out += "MIME-Version: 1.0\r\n";

  // The body: text, HTML with its inline parts, then attachments.
  std::vector<Entity> inline_parts;
  std::vector<Entity> attached;
  for (const auto& a : c.attachments) {
    if (!a.content_id.empty() && !c.html.empty()) {
      inline_parts.push_back(attachment_entity(a, true));
    } else {
      attached.push_back(attachment_entity(a, !a.content_id.empty()));
    }
  }
  std::optional<Entity> html;
  if (!c.html.empty()) {
    html = text_entity("html", c.html);
    if (!inline_parts.empty()) {
      inline_parts.insert(inline_parts.begin(), std::move(*html));
      html = multipart("related", inline_parts, " type=\"text/html\";");
    }
  }
  std::optional<Entity> body;
  if (!c.text.empty() && html) {
    body = multipart("alternative", {text_entity("plain", c.text), std::move(*html)});
  } else if (html) {
    body = std::move(html);
  } else if (!c.text.empty() || attached.empty()) {
    body = text_entity("plain", c.text);
  }
  Entity top;
  if (!attached.empty()) {
    if (body) {
      attached.insert(attached.begin(), std::move(*body));
    }
    top = multipart("mixed", attached);
  } else {
    top = std::move(*body);
  }
  out += top.headers + "\r\n" + top.body;
  if (!out.ends_with("\r\n")) {
    out += "\r\n";  // SMTP data ends with a line break
  }
  return out;
}

}  // namespace txmail::mime
