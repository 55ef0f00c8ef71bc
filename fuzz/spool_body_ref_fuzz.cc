// A spool body reference read back from disk ("<segment> <offset> <length>"; a damaged file is a
// stranger): decoding never crashes, what decodes ends inside the 64-bit range, and it encodes
// to a value that decodes to the same reference.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "store/spool_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto ref = txmail::store::decode_body_ref(in)) {
    if (ref->length > std::numeric_limits<std::uint64_t>::max() - ref->offset) {
      __builtin_trap();
    }
    auto again = txmail::store::decode_body_ref(txmail::store::encode_body_ref(*ref));
    if (!again || !(*again == *ref)) {
      __builtin_trap();
    }
  }
  return 0;
}
