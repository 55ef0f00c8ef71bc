// The reader of what comes back to the return path (mime/report.h) reads any stranger's
// message: it never crashes, keeps within its bounds, and every recipient it reports has an
// address.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mime/report.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto r = txmail::mime::read_report(in);
  if (r.recipients.size() > txmail::mime::kMaxRecipients) {
    __builtin_trap();
  }
  for (const auto& rr : r.recipients) {
    if (rr.recipient.empty() || (rr.hard() && rr.soft())) {
      __builtin_trap();
    }
  }
  return 0;
}
