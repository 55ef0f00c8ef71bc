#include "dkim/body_canon.h"

#include <openssl/evp.h>

#include <memory>

#include "dkim/body_out.h"
#include "dkim/key.h"

namespace txmail::dkim::detail {

namespace {

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

// The end of the run of SP and HTAB starting at `from`: the first other byte, or the end.
std::size_t white_space_end(std::string_view body, std::size_t from) {
  while (from < body.size() && is_wsp(body[from])) {
    ++from;
  }
  return from;
}

// Simple (section 3.4.3): the body with trailing empty lines taken off, ending in exactly one
// CRLF; an empty body is a single CRLF.
void simple_body(std::string_view body, BodyOut& out) {
  std::size_t end = body.size();
  while (end >= 2 && body[end - 2] == '\r' && body[end - 1] == '\n') {
    end -= 2;
  }
  out.put(body.substr(0, end));
  out.put("\r\n");
}

// Relaxed (section 3.4.4) as a few edits of the body: white space at line ends removed, runs of
// white space made one SP, trailing empty lines removed, a CRLF after an unterminated last line;
// an empty result stays empty. Lines end at CRLF only: a lone CR or LF is text. The scanner
// finds the candidates for an edit (body_scan.h); from span_ up to the next edit the body is
// canonical as it is and goes out in one piece. Empty lines are held back as a count (they
// count only if text follows); when they are plain CRLFs they stay part of the span.
class RelaxedBody {
 public:
  RelaxedBody(std::string_view body, ScanFunction scan, BodyOut& out)
      : body_(body), scan_(scan), out_(out) {}

  void run() {
    std::size_t pos = on_empty_lines(0);
    while (pos != kEnded) {
      pos = scan_(body_.data(), pos, body_.size());
      if (pos == body_.size()) {
        keep_until(pos);
        if (!body_.empty() && !body_.ends_with("\r\n")) {
          out_.put("\r\n");
        }
        return;
      }
      pos = dispatch(pos);
    }
  }

 private:
  // Returned instead of a position when the body ended in empty lines (all of them dropped).
  static constexpr std::size_t kEnded = std::string_view::npos;

  bool crlf_at(std::size_t pos) const {
    return pos + 1 < body_.size() && body_[pos] == '\r' && body_[pos + 1] == '\n';
  }

  bool line_starts_at(std::size_t pos) const {
    return pos == 0 || (pos >= 2 && body_[pos - 2] == '\r' && body_[pos - 1] == '\n');
  }

  // The body from span_ up to pos goes out as it is.
  void keep_until(std::size_t pos) { out_.put(body_.substr(span_, pos - span_)); }

  // An event of the scanner: white space, an LF that may precede an empty line, or a control
  // character next to white space (nothing to change).
  std::size_t dispatch(std::size_t pos) {
    switch (body_[pos]) {
      case ' ':
      case '\t':
        return on_white_space(pos);
      case '\n':
        return on_line_feed(pos);
      default:
        return pos + 1;
    }
  }

  // An empty line starts after this LF if the LF ends a line and a CRLF follows.
  std::size_t on_line_feed(std::size_t pos) {
    if (pos >= 1 && body_[pos - 1] == '\r' && crlf_at(pos + 1)) {
      return on_empty_lines(pos + 1);
    }
    return pos + 1;
  }

  // A run of white space starting at pos (the scanner reports a run at its first byte).
  std::size_t on_white_space(std::size_t pos) {
    const std::size_t end = white_space_end(body_, pos);
    const bool line_end = end == body_.size() || crlf_at(end);
    if (line_end && line_starts_at(pos)) {
      return on_empty_lines(pos);
    }
    if (line_end) {
      keep_until(pos);
    } else if (end - pos == 1 && body_[pos] == ' ') {
      return end;  // one SP before a lone CR or LF or a control character: as it is
    } else if (body_[pos] == ' ') {
      keep_until(pos + 1);  // the run's first SP stands for the run
    } else {
      keep_until(pos);
      out_.put(" ");
    }
    span_ = end;
    return end;
  }

  // From the line start `at`: the empty lines (nothing but white space) there, if any. Returns
  // where the next line with text starts, or kEnded when only empty lines are left.
  std::size_t on_empty_lines(std::size_t at) {
    std::size_t count = 0;
    bool plain = true;
    std::size_t line = at;
    while (true) {
      const std::size_t end = white_space_end(body_, line);
      if (end == body_.size()) {
        keep_until(at);
        return kEnded;
      }
      if (!crlf_at(end)) {
        break;
      }
      plain = plain && end == line;
      ++count;
      line = end + 2;
    }
    if (!plain) {
      keep_until(at);
      out_.put_crlfs(count);
      span_ = line;
    }
    return line;
  }

  std::string_view body_;
  ScanFunction scan_;
  BodyOut& out_;
  std::size_t span_ = 0;
};

void write_body(Canon canon, std::string_view body, Scanner scanner, BodyOut& out) {
  switch (canon) {
    case Canon::kSimple:
      simple_body(body, out);
      return;
    case Canon::kRelaxed:
      RelaxedBody(body, scan_function(scanner), out).run();
      return;
  }
}

}  // namespace

std::string canonicalize_body_with(Canon canon, std::string_view body, Scanner scanner) {
  std::string text;
  text.reserve(body.size() + 2);
  {
    BodyOut out(&text);
    write_body(canon, body, scanner, out);
  }
  return text;
}

Digest body_hash_with(Canon canon, std::string_view body, Scanner scanner) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), sha256(), nullptr);
  {
    BodyOut out(ctx.get());
    write_body(canon, body, scanner, out);
  }
  Digest digest{};
  unsigned int n = 0;
  EVP_DigestFinal_ex(ctx.get(), digest.data(), &n);
  return digest;
}

}  // namespace txmail::dkim::detail
