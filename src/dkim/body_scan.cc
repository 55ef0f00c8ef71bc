#include "dkim/body_scan.h"

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace txmail::dkim::detail {

namespace {

bool is_low(char c) {
  return static_cast<unsigned char>(c) <= 0x20;
}

// The definition in body_scan.h, for one byte; used for the last bytes of the body, where a
// wider load would read past its end.
bool is_event(const char* data, std::size_t i, std::size_t size) {
  const char c = data[i];
  if (c == '\t') {
    return true;
  }
  if (i + 1 == size) {
    return c == ' ';
  }
  return c != '\r' && is_low(c) && is_low(data[i + 1]);
}

std::size_t scan_bytes(const char* data, std::size_t from, std::size_t size) {
  for (; from < size; ++from) {
    if (is_event(data, from, size)) {
      return from;
    }
  }
  return size;
}

constexpr std::uint64_t kLow = 0x0101010101010101ULL;
constexpr std::uint64_t kHigh = 0x8080808080808080ULL;

// 0x80 in every byte of x that equals c, 0 in the others. Exact (no borrow runs from one byte
// into the next, unlike the shorter has-zero-byte trick), because masks of neighbouring bytes
// are combined.
std::uint64_t bytes_equal(std::uint64_t x, unsigned char c) {
  const std::uint64_t y = x ^ (kLow * c);
  return ~(((y & ~kHigh) + ~kHigh) | y) & kHigh;
}

// 0x80 in every byte of x that is at most 0x20, 0 in the others (exact, as above): the low
// seven bits plus 0x5f stay under 0x80 only up to 0x20, and the top bit must be clear.
std::uint64_t bytes_low(std::uint64_t x) {
  return ~(((x & ~kHigh) + kLow * 0x5f) | x) & kHigh;
}

std::uint64_t load8(const char* p) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// Eight bytes at a time in a 64-bit word, on any CPU.
std::size_t scan_portable(const char* data, std::size_t from, std::size_t size) {
  // Each step reads 8 bytes and the one after them.
  while (from + 9 <= size) {
    const std::uint64_t cur = load8(data + from);
    const std::uint64_t next = load8(data + from + 1);
    const std::uint64_t events =
        bytes_equal(cur, '\t') | (bytes_low(cur) & bytes_low(next) & ~bytes_equal(cur, '\r'));
    if (events != 0) {
      if constexpr (std::endian::native == std::endian::little) {
        return from + static_cast<std::size_t>(std::countr_zero(events)) / 8;
      } else {
        return from + static_cast<std::size_t>(std::countl_zero(events)) / 8;
      }
    }
    from += 8;
  }
  return scan_bytes(data, from, size);
}

#if defined(__x86_64__)
// The events of the 32 bytes at p as a vector (0xff where one is), reading p[32] too. Seven
// operations: both bytes of a pair at most 0x20 (the larger one is), not CR first, or HTAB.
__attribute__((target("avx2"))) __m256i events32(const char* p) {
  const __m256i low = _mm256_set1_epi8(0x20);
  const __m256i cur = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i next = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 1));
  const __m256i larger = _mm256_max_epu8(cur, next);
  const __m256i both_low = _mm256_cmpeq_epi8(_mm256_min_epu8(larger, low), larger);
  const __m256i cr = _mm256_cmpeq_epi8(cur, _mm256_set1_epi8('\r'));
  const __m256i tab = _mm256_cmpeq_epi8(cur, _mm256_set1_epi8('\t'));
  return _mm256_or_si256(_mm256_andnot_si256(cr, both_low), tab);
}

__attribute__((target("avx2"))) std::uint32_t mask32(__m256i events) {
  return static_cast<std::uint32_t>(_mm256_movemask_epi8(events));
}

// 64 bytes a step with one test: events are rare in text, the loop is the cost.
__attribute__((target("avx2"))) std::size_t scan_avx2(const char* data, std::size_t from,
                                                      std::size_t size) {
  // Each step reads 64 bytes and the one after them.
  while (from + 65 <= size) {
    const __m256i first = events32(data + from);
    const __m256i second = events32(data + from + 32);
    const __m256i any = _mm256_or_si256(first, second);
    if (_mm256_testz_si256(any, any) == 0) {
      const std::uint64_t events =
          mask32(first) | (static_cast<std::uint64_t>(mask32(second)) << 32);
      return from + static_cast<std::size_t>(std::countr_zero(events));
    }
    from += 64;
  }
  if (from + 33 <= size) {
    if (const std::uint32_t events = mask32(events32(data + from)); events != 0) {
      return from + static_cast<std::size_t>(std::countr_zero(events));
    }
    from += 32;
  }
  return scan_portable(data, from, size);
}
#endif

// Asked of the CPU once (thread-safe static initialization).
bool cpu_has_avx2() {
#if defined(__x86_64__)
  static const bool kAvx2 = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return kAvx2;
#else
  return false;
#endif
}

}  // namespace

bool scanner_supported(Scanner scanner) {
  switch (scanner) {
    case Scanner::kPortable:
      return true;
    case Scanner::kAvx2:
      return cpu_has_avx2();
  }
  return false;
}

Scanner best_scanner() {
  return cpu_has_avx2() ? Scanner::kAvx2 : Scanner::kPortable;
}

ScanFunction scan_function(Scanner scanner) {
#if defined(__x86_64__)
  if (scanner == Scanner::kAvx2 && cpu_has_avx2()) {
    return scan_avx2;
  }
#endif
  return scan_portable;
}

}  // namespace txmail::dkim::detail
