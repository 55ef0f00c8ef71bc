// Finds, in a message body, the bytes where relaxed body canonicalization (RFC 6376 section
// 3.4.4) may change something, so that body_canon.cc can pass everything in between to SHA-256
// as it is. Internal to the dkim module; vectorized with AVX2 where the CPU has it (chosen at
// run time), 8 bytes at a time elsewhere.
//
// A byte is an event when
//   - it is HTAB (canonical text has no tabs: a tab is trimmed or becomes part of one SP);
//   - it and the next byte are both SP or control characters (0x00-0x20), except when it is CR
//     (so a CRLF after text is not one);
//   - it is SP and the last byte of the body.
// That covers every place an edit may start: a run of white space longer than one SP or
// starting with HTAB (at its first byte), white space before a line end, an LF followed by CR
// (an empty line may start there). It is wider than needed (a lone LF or a control character
// next to SP is an event too, rare in mail) because it costs fewer vector operations; the
// caller looks at each event and passes over the ones that change nothing. Text, single SPs
// between words and CRLF after text are never events.
#pragma once

#include <cstddef>

namespace txmail::dkim::detail {

enum class Scanner { kPortable, kAvx2 };

// The first event at or after `from` in data[0, size), or size when there is none.
using ScanFunction = std::size_t (*)(const char* data, std::size_t from, std::size_t size);

bool scanner_supported(Scanner scanner);
// The fastest scanner this CPU runs.
Scanner best_scanner();
// The scanner's function; a scanner the CPU does not run falls back to the portable one.
ScanFunction scan_function(Scanner scanner);

}  // namespace txmail::dkim::detail
