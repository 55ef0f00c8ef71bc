// Reading message content off the wire: DATA with dot-stuffing (RFC 5321 section 4.5.2) and
// BDAT chunks (RFC 3030). Both feed a ContentCheck that enforces the limits a stranger must
// not exceed and spots bare CR or LF.
//
// SMTP smuggling: end of data is only CRLF "." CRLF. A bare LF or bare CR never ends a line
// here, so "<LF>.<LF>", "<CR>.<CR>" and "<LF>.<CR><LF>" are content; the message that holds
// them is flagged and the server refuses it whole, so nothing after them can become a second
// message.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace txmail::smtp {

// The longest text line (RFC 5321 section 4.5.3.1.6): 1000 octets with the CRLF.
constexpr std::size_t kMaxTextLine = 998;

struct ContentProblems {
  bool bare_cr = false;
  bool bare_lf = false;
  bool long_line = false;
  bool oversize = false;
  bool nul = false;        // a NUL octet: not text (RFC 5321 section 4.5.2; no BINARYMIME here)
  bool eight_bit = false;  // informational: octets over 127 (needs BODY=8BITMIME or SMTPUTF8)

  bool refused() const { return bare_cr || bare_lf || long_line || oversize || nul; }
};

// Accumulates message bytes (already unstuffed) into `out` up to max_size, and records what is
// wrong with them. Bytes past max_size are counted, not kept.
class ContentCheck {
 public:
  ContentCheck(std::string& out, std::uint64_t max_size) : out_(out), max_size_(max_size) {}

  void put(std::string_view bytes);
  void finish();  // a dangling CR at the very end is a bare CR

  const ContentProblems& problems() const { return problems_; }

  std::uint64_t size() const { return size_; }

 private:
  std::string& out_;
  std::uint64_t max_size_;
  std::uint64_t size_ = 0;
  std::size_t line_ = 0;
  bool cr_ = false;
  ContentProblems problems_;
};

// DATA: feed wire bytes; returns how many were consumed. done() turns true once the
// terminating CRLF.CRLF has been consumed; bytes after it belong to the next command.
class DotReader {
 public:
  DotReader(std::string& out, std::uint64_t max_size) : check_(out, max_size) {}

  std::size_t feed(std::string_view wire);

  bool done() const { return state_ == State::kDone; }

  const ContentProblems& problems() const { return check_.problems(); }

  std::uint64_t size() const { return check_.size(); }

 private:
  enum class State { kLineStart, kMid, kCr, kDot, kDotCr, kDone };

  ContentCheck check_;
  State state_ = State::kLineStart;  // the DATA command's CRLF starts the first line
};

// BDAT: chunks of exact sizes, with no stuffing; the content check runs across chunk edges.
class ChunkReader {
 public:
  ChunkReader(std::string& out, std::uint64_t max_size) : check_(out, max_size) {}

  void begin_chunk(std::uint64_t size) { remaining_ = size; }

  // Consumes up to the rest of the current chunk; returns how many bytes it took.
  std::size_t feed(std::string_view wire);

  bool chunk_done() const { return remaining_ == 0; }

  void finish() { check_.finish(); }

  const ContentProblems& problems() const { return check_.problems(); }

  std::uint64_t size() const { return check_.size(); }

 private:
  ContentCheck check_;
  std::uint64_t remaining_ = 0;
};

}  // namespace txmail::smtp
