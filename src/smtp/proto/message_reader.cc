#include "smtp/proto/message_reader.h"

#include <algorithm>
#include <cstring>

namespace txmail::smtp {

void ContentCheck::put(std::string_view bytes) {
  // Keep what fits under the size limit, in one append; count the rest.
  const std::uint64_t room = size_ < max_size_ ? max_size_ - size_ : 0;
  out_.append(bytes.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(room, bytes.size()))));
  size_ += bytes.size();
  if (size_ > max_size_) {
    problems_.oversize = true;
  }
  if (!problems_.eight_bit) {
    unsigned char any = 0;
    for (char c : bytes) {  // a plain loop the compiler vectorizes
      any |= static_cast<unsigned char>(c);
    }
    problems_.eight_bit = (any & 0x80) != 0;
  }
  // Walk from line end to line end with memchr; only CR and LF need a closer look.
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  while (p < end) {
    if (cr_) {
      cr_ = false;
      if (*p == '\n') {
        line_ = 0;
        ++p;
        continue;
      }
      problems_.bare_cr = true;
    }
    const auto left = static_cast<std::size_t>(end - p);
    const char* cr = static_cast<const char*>(std::memchr(p, '\r', left));
    const char* stop = cr != nullptr ? cr : end;
    if (std::memchr(p, '\n', static_cast<std::size_t>(stop - p)) != nullptr) {
      problems_.bare_lf = true;
    }
    line_ += static_cast<std::size_t>(stop - p);
    if (line_ > kMaxTextLine) {
      problems_.long_line = true;
    }
    if (cr == nullptr) {
      break;
    }
    cr_ = true;
    p = cr + 1;
  }
}

void ContentCheck::finish() {
  if (cr_) {
    problems_.bare_cr = true;
    cr_ = false;
  }
}

void DotReader::content(char c) {
  // Tracks CRLF on the wire to know where lines start; the ContentCheck judges the content.
  check_.put(std::string_view(&c, 1));
  if (c == '\r') {
    state_ = State::kCr;
  } else {
    state_ = State::kMid;
  }
}

std::size_t DotReader::feed(std::string_view wire) {
  std::size_t i = 0;
  while (i < wire.size() && state_ != State::kDone) {
    const char c = wire[i++];
    switch (state_) {
      case State::kLineStart:
        if (c == '.') {
          state_ = State::kDot;
        } else {
          content(c);
        }
        break;
      case State::kMid: {
        // Copy the run up to the next CR in one go: most octets land here.
        const std::size_t from = i - 1;
        const std::size_t cr = wire.find('\r', from);
        const std::size_t end = cr == std::string_view::npos ? wire.size() : cr;
        check_.put(wire.substr(from, end - from));
        i = end;
        if (cr != std::string_view::npos) {
          ++i;
          content('\r');
        }
        break;
      }
      case State::kCr:
        content(c);
        if (c == '\n') {
          state_ = State::kLineStart;
        }
        break;
      case State::kDot:
        // A leading dot followed by anything but CR is stuffing: drop the dot.
        if (c == '\r') {
          state_ = State::kDotCr;
        } else {
          content(c);
        }
        break;
      case State::kDotCr:
        if (c == '\n') {
          check_.finish();
          state_ = State::kDone;
        } else {
          // ".<CR>x": the dot was stuffing and the CR is bare content.
          content('\r');
          content(c);
        }
        break;
      case State::kDone:
        break;
    }
  }
  return i;
}

std::size_t ChunkReader::feed(std::string_view wire) {
  const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, wire.size()));
  check_.put(wire.substr(0, n));
  remaining_ -= n;
  return n;
}

}  // namespace txmail::smtp
