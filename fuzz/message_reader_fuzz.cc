// The DATA and BDAT readers, fed the way a stranger's connection delivers bytes: in pieces of
// any size. The result never depends on the pieces; accepted DATA content, dot-stuffed again as
// a client sends it, reads back as the same content ending exactly at its terminator (no
// smuggled end of data); BDAT content is the bytes sent.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/proto/message_reader.h"

namespace {

constexpr std::uint64_t kMax = 8192;

// The content as a client dot-stuffs it (RFC 5321 section 4.5.2), with the terminator.
std::string stuff(std::string_view content) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < content.size(); ++i) {
    if (line_start && content[i] == '.') {
      out.push_back('.');
    }
    out.push_back(content[i]);
    line_start = content[i] == '\n' && i > 0 && content[i - 1] == '\r';
  }
  out += ".\r\n";
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  // The first byte: the piece size; the rest: the wire.
  const std::size_t piece = 1 + data[0] % 16;
  const std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::string whole;
  txmail::smtp::DotReader one(whole, kMax);
  const std::size_t used_one = one.feed(wire);
  std::string pieces;
  txmail::smtp::DotReader two(pieces, kMax);
  std::size_t used_two = 0;
  for (std::size_t pos = 0; pos < wire.size() && !two.done(); pos += piece) {
    used_two += two.feed(wire.substr(pos, std::min(piece, wire.size() - pos)));
  }
  if (one.done() != two.done() || used_one != used_two || whole != pieces
      || one.problems().refused() != two.problems().refused() || one.size() != two.size()) {
    __builtin_trap();
  }
  if (one.done() && !one.problems().refused()) {
    const std::string stuffed = stuff(whole);
    std::string reread;
    txmail::smtp::DotReader three(reread, kMax);
    if (three.feed(stuffed) != stuffed.size() || !three.done() || reread != whole
        || three.problems().refused()) {
      __builtin_trap();
    }
  }
  if (!one.problems().refused() && whole.find('\0') != std::string::npos) {
    __builtin_trap();
  }

  std::string chunked;
  txmail::smtp::ChunkReader chunks(chunked, kMax);
  std::size_t pos = 0;
  while (pos < wire.size()) {
    const std::size_t n = std::min(piece * 7, wire.size() - pos);
    chunks.begin_chunk(n);
    std::size_t taken = 0;
    while (!chunks.chunk_done()) {
      taken += chunks.feed(wire.substr(pos + taken, std::min(piece, n - taken)));
    }
    pos += n;
  }
  chunks.finish();
  if (chunked != wire.substr(0, kMax) || chunks.size() != wire.size()) {
    __builtin_trap();
  }
  std::string at_once;
  txmail::smtp::ChunkReader single(at_once, kMax);
  single.begin_chunk(wire.size());
  single.feed(wire);
  single.finish();
  if (single.problems().refused() != chunks.problems().refused()) {
    __builtin_trap();
  }
  return 0;
}
