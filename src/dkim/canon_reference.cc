// The reference body canonicalization (see canon_reference.h): the code as it was before the
// vectorized one, unchanged but for its namespace.
#include "dkim/canon_reference.h"

#include <openssl/evp.h>

#include <algorithm>
#include <memory>

#include "dkim/key.h"

namespace txmail::dkim::detail {

namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
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

std::string canonicalize_body_reference(Canon canon, std::string_view body) {
  std::string text;
  {
    Sink sink(&text);
    write_body(canon, body, sink);
  }
  return text;
}

Digest body_hash_reference(Canon canon, std::string_view body) {
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

}  // namespace txmail::dkim::detail
