// The JobRequest of POST /v2/jobs: any body read and validated without a crash; a job that
// passes has nothing in its header-bound fields that could break out of a header, and composes
// into a message without a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/job_request.h"
#include "mime/compose.h"

namespace {

void check_header_safe(const std::string& value) {
  if (!txmail::mime::header_safe(value)) {
    __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parsed = txmail::api::parse_strict_json(in);
  if (!parsed.error.empty() || !parsed.value.is_object()) {
    return 0;
  }
  std::vector<txmail::api::FieldError> errors;
  txmail::api::JsonObject top(parsed.value.as_object(), "", errors);
  txmail::api::JobLimits limits;
  limits.max_recipients = 50;
  const auto job = txmail::api::jobreq::read_job(top, limits);
  if (!errors.empty()) {
    return 0;
  }
  check_header_safe(job.subject);
  check_header_safe(job.mime_from.name);
  check_header_safe(job.mime_from.address);
  check_header_safe(job.envelope_from.address);
  for (const auto& a : job.attachments) {
    check_header_safe(a.name);
    check_header_safe(a.content_type);
    check_header_safe(a.content_id);
  }
  for (const auto& block : job.blocks) {
    txmail::mime::Composition c;
    c.from = job.mime_from.address.empty() ? job.envelope_from : job.mime_from;
    for (const auto& r : block.to) {
      if (!r.drop) {
        c.to.push_back({r.name, r.address});
      }
    }
    for (const auto& r : block.cc) {
      if (!r.drop) {
        c.cc.push_back({r.name, r.address});
      }
    }
    c.reply_to = block.reply_to;
    c.in_reply_to = block.in_reply_to;
    c.subject = job.subject;
    c.text = job.text;
    c.html = job.html;
    c.attachments = job.attachments;
    c.extra_headers = block.x_headers;
    c.priority = block.priority;
    c.list_unsubscribe = block.list_unsubscribe;
    c.message_id = "fuzz@txmail.invalid";
    for (const auto& [name, value] : block.x_headers) {
      check_header_safe(name);
      check_header_safe(value);
    }
    check_header_safe(block.in_reply_to);
    check_header_safe(block.list_unsubscribe);
    (void)txmail::mime::compose(c);
  }
  return 0;
}
