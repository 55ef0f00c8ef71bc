#include "smtp/proto/message_reader.h"

#include <algorithm>

namespace txmail::smtp {

void ContentCheck::put_byte(char c) {
  ++size_;
  if (size_ > max_size_) {
    problems_.oversize = true;
  } else {
    out_.push_back(c);
  }
  if (static_cast<unsigned char>(c) >= 0x80) {
    problems_.eight_bit = true;
  }
  if (cr_) {
    cr_ = false;
    if (c == '\n') {
      line_ = 0;
      return;
    }
    problems_.bare_cr = true;
  }
  if (c == '\r') {
    cr_ = true;
    return;
  }
  if (c == '\n') {
    problems_.bare_lf = true;
  }
  if (++line_ > kMaxTextLine) {
    problems_.long_line = true;
  }
}

void ContentCheck::put(std::string_view bytes) {
  // Fast path for the common case of plain text: reserve once, then byte by byte (the state
  // machine is a handful of compares per octet).
  if (size_ + bytes.size() <= max_size_) {
    out_.reserve(out_.size() + bytes.size());
  }
  for (char c : bytes) {
    put_byte(c);
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
  char one[1] = {c};
  check_.put(std::string_view(one, 1));
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
