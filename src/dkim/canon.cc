#include "dkim/canon.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "dkim/key.h"

namespace txmail::dkim {

namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Canonical body bytes go through a small buffer into the hash, or into a string.
class Sink {
 public:
  // buffer_ is left unset: it is written before it is read.
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init)
  explicit Sink(EVP_MD_CTX* ctx) : ctx_(ctx) {}

  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-member-init)
  explicit Sink(std::string* text) : text_(text) {}

  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;
  Sink(Sink&&) = delete;
  Sink& operator=(Sink&&) = delete;

  ~Sink() { flush(); }

  void put(std::string_view s) {
    if (text_ != nullptr) {
      text_->append(s);
      return;
    }
    if (s.size() > sizeof(buffer_) - used_) {
      flush();
      if (s.size() >= sizeof(buffer_)) {
        EVP_DigestUpdate(ctx_, s.data(), s.size());
        return;
      }
    }
    std::copy(s.begin(), s.end(), buffer_ + used_);
    used_ += s.size();
  }

  void put(char c) { put(std::string_view(&c, 1)); }

  void flush() {
    if (ctx_ != nullptr && used_ > 0) {
      EVP_DigestUpdate(ctx_, buffer_, used_);
    }
    used_ = 0;
  }

 private:
  EVP_MD_CTX* ctx_ = nullptr;
  std::string* text_ = nullptr;
  char buffer_[16384];
  std::size_t used_ = 0;
};

// Simple: the body with trailing empty lines taken off, ending in exactly one CRLF; an empty
// body is a single CRLF (section 3.4.3).
void simple_body(std::string_view body, Sink& out) {
  std::size_t end = body.size();
  while (end >= 2 && body[end - 2] == '\r' && body[end - 1] == '\n') {
    end -= 2;
  }
  out.put(body.substr(0, end));
  out.put("\r\n");
}

// Relaxed: white space at line ends removed, runs of white space made one space, trailing
// empty lines removed; an empty result stays empty (section 3.4.4).
void relaxed_body(std::string_view body, Sink& out) {
  std::size_t pending_empty = 0;  // empty lines held back: they count only if text follows
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t eol = body.find("\r\n", pos);
    const bool terminated = eol != std::string_view::npos;
    if (!terminated) {
      eol = body.size();
    }
    std::string_view line = body.substr(pos, eol - pos);
    pos = terminated ? eol + 2 : eol;
    while (!line.empty() && is_wsp(line.back())) {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      ++pending_empty;
      continue;
    }
    for (; pending_empty > 0; --pending_empty) {
      out.put("\r\n");
    }
    std::size_t i = 0;
    while (i < line.size()) {
      std::size_t run = i;
      while (run < line.size() && !is_wsp(line[run])) {
        ++run;
      }
      out.put(line.substr(i, run - i));
      if (run == line.size()) {
        break;
      }
      out.put(' ');
      while (run < line.size() && is_wsp(line[run])) {
        ++run;
      }
      i = run;
    }
    out.put("\r\n");
  }
}

void write_body(Canon canon, std::string_view body, Sink& out) {
  switch (canon) {
    case Canon::kSimple:
      simple_body(body, out);
      return;
    case Canon::kRelaxed:
      relaxed_body(body, out);
      return;
  }
}

}  // namespace

MessageParts split_message(std::string_view message) {
  if (message.starts_with("\r\n")) {
    return {message.substr(0, 0), message.substr(2)};
  }
  const std::size_t blank = message.find("\r\n\r\n");
  if (blank == std::string_view::npos) {
    return {message, message.substr(message.size())};
  }
  return {message.substr(0, blank + 2), message.substr(blank + 4)};
}

std::vector<HeaderField> header_fields(std::string_view headers) {
  std::vector<HeaderField> fields;
  std::size_t pos = 0;
  while (pos < headers.size()) {
    // A field runs until a CRLF not followed by white space (a fold).
    std::size_t end = pos;
    while (true) {
      const std::size_t eol = headers.find("\r\n", end);
      if (eol == std::string_view::npos) {
        end = headers.size();
        break;
      }
      end = eol + 2;
      if (end >= headers.size() || !is_wsp(headers[end])) {
        break;
      }
    }
    const std::string_view raw = headers.substr(pos, end - pos);
    pos = end;
    const std::size_t colon = raw.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      continue;
    }
    std::string_view name = raw.substr(0, colon);
    while (!name.empty() && is_wsp(name.back())) {
      name.remove_suffix(1);
    }
    fields.push_back(HeaderField{name, raw});
  }
  return fields;
}

void canonicalize_header(Canon canon, std::string_view raw, std::string& out) {
  if (canon == Canon::kSimple) {
    out.append(raw);
    if (!raw.ends_with("\r\n")) {
      out.append("\r\n");
    }
    return;
  }
  const std::size_t colon = raw.find(':');
  std::string_view name = raw.substr(0, colon);
  while (!name.empty() && is_wsp(name.back())) {
    name.remove_suffix(1);
  }
  for (char c : name) {
    out.push_back(lower(c));
  }
  out.push_back(':');
  // Unfold, make white-space runs one space, drop white space at both ends of the value.
  const std::size_t start = out.size();
  bool space = false;
  for (std::size_t i = colon + 1; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\r' || c == '\n') {
      continue;
    }
    if (is_wsp(c)) {
      space = true;
      continue;
    }
    if (space && out.size() > start) {
      out.push_back(' ');
    }
    space = false;
    out.push_back(c);
  }
  out.append("\r\n");
}

std::string canonicalize_body(Canon canon, std::string_view body) {
  std::string text;
  {
    Sink sink(&text);
    write_body(canon, body, sink);
  }
  return text;
}

Digest body_hash(Canon canon, std::string_view body) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), sha256(), nullptr);
  {
    Sink sink(ctx.get());
    write_body(canon, body, sink);
  }
  Digest digest{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &n);
  return digest;
}

std::string_view canon_name(Canon canon) {
  switch (canon) {
    case Canon::kSimple:
      return "simple";
    case Canon::kRelaxed:
      return "relaxed";
  }
  return "relaxed";
}

bool parse_canon(std::string_view name, Canon& out) {
  if (name == "simple") {
    out = Canon::kSimple;
    return true;
  }
  if (name == "relaxed") {
    out = Canon::kRelaxed;
    return true;
  }
  return false;
}

}  // namespace txmail::dkim
