#include "dkim/body_out.h"

#include <openssl/evp.h>

namespace txmail::dkim::detail {

void BodyOut::put_crlfs(std::size_t n) {
  static constexpr std::string_view kCrlfs =
      "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n";
  while (n > 0) {
    const std::size_t now = std::min(n, kCrlfs.size() / 2);
    put(kCrlfs.substr(0, 2 * now));
    n -= now;
  }
}

void BodyOut::flush() {
  if (ctx_ != nullptr && used_ > 0) {
    EVP_DigestUpdate(ctx_, buffer_, used_);
  }
  used_ = 0;
}

void BodyOut::flush_blocks() {
  const std::size_t whole = used_ - used_ % kBlock;
  if (whole == 0) {
    return;
  }
  EVP_DigestUpdate(ctx_, buffer_, whole);
  std::copy(buffer_ + whole, buffer_ + used_, buffer_);
  used_ -= whole;
}

void BodyOut::put_long(std::string_view s) {
  // The span's first bytes complete the buffer's last block (the buffer has room for them
  // after flush_blocks: it keeps less than a block).
  const std::size_t head = (kBlock - used_ % kBlock) % kBlock;
  if (head > sizeof(buffer_) - used_) {
    flush_blocks();
  }
  std::copy(s.begin(), s.begin() + static_cast<std::ptrdiff_t>(head), buffer_ + used_);
  used_ += head;
  flush_blocks();
  s.remove_prefix(head);
  const std::size_t whole = s.size() - s.size() % kBlock;
  EVP_DigestUpdate(ctx_, s.data(), whole);
  std::copy(s.begin() + static_cast<std::ptrdiff_t>(whole), s.end(), buffer_);
  used_ = s.size() - whole;
}

}  // namespace txmail::dkim::detail
