// libFuzzer target for everything the SMTP server parses from strangers: command lines
// (with their paths and parameters), and message data through the DATA and BDAT readers.
// Build with `make fuzz`; run build-fuzz/fuzz/fuzz_smtp_command fuzz/corpus/smtp_command.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "smtp/proto/command.h"
#include "smtp/proto/message_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  // Every line of the input as a command; a parsed command's address must round-trip.
  std::size_t pos = 0;
  while (pos <= in.size()) {
    std::size_t eol = in.find('\n', pos);
    if (eol == std::string_view::npos) {
      eol = in.size();
    }
    auto cmd = txmail::smtp::parse_command(in.substr(pos, eol - pos));
    if (cmd && !cmd->path.is_null()) {
      auto again = txmail::smtp::parse_mailbox(cmd->path.address());
      if (!again || again->address() != cmd->path.address()) {
        __builtin_trap();
      }
    }
    if (!cmd && cmd.error().wire().find('\n') + 1 != cmd.error().wire().size()) {
      __builtin_trap();  // a reply is exactly one line
    }
    pos = eol + 1;
  }

  // The same bytes as message data, fed in two pieces split by the first byte: the result must
  // not depend on how the data arrived.
  const std::size_t split = size == 0 ? 0 : data[0] % (size + 1);
  std::string whole;
  txmail::smtp::DotReader one(whole, 4096);
  const std::size_t used_one = one.feed(in);
  std::string parts;
  txmail::smtp::DotReader two(parts, 4096);
  std::size_t used_two = two.feed(in.substr(0, split));
  if (!two.done()) {
    used_two += two.feed(in.substr(split));
  }
  if (one.done() != two.done() || used_one != used_two || whole != parts
      || one.problems().refused() != two.problems().refused()) {
    __builtin_trap();
  }

  std::string chunked;
  txmail::smtp::ChunkReader chunks(chunked, 4096);
  chunks.begin_chunk(split);
  chunks.feed(in);
  chunks.begin_chunk(size - split);
  chunks.feed(in.substr(split));
  chunks.finish();
  if (chunked.size() != std::min<std::size_t>(size, 4096)) {
    __builtin_trap();
  }
  return 0;
}
