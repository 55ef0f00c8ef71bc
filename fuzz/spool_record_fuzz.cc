// Spool records and recipient states read back from disk (a damaged file is a stranger):
// decoding never crashes, and what decodes encodes to bytes that decode to the same record.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "store/spool_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  if (auto record = txmail::store::decode(in)) {
    auto again = txmail::store::decode(txmail::store::encode(*record));
    if (!again || !(*again == *record)) {
      __builtin_trap();
    }
  }
  if (auto recipients = txmail::store::decode_recipients(in)) {
    auto again = txmail::store::decode_recipients(txmail::store::encode_recipients(*recipients));
    if (!again || *again != *recipients) {
      __builtin_trap();
    }
  }
  return 0;
}
