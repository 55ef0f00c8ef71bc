#include "events/event.h"

#include <chrono>

#include "common/ids.h"

namespace txmail::events {

std::string Event::state() const {
  return kind == Kind::kDeferred || kind == Kind::kProcessed ? "INTERMEDIATE" : "FINISHED";
}

std::string Event::type() const {
  switch (kind) {
    case Kind::kDelivered:
      return "DELIVERED";
    case Kind::kDeferred:
      return "DEFERRED";
    case Kind::kBouncedHard:
    case Kind::kBouncedSoft:
      return "BOUNCED";
    case Kind::kProcessed:
      return "PROCESSED";
  }
  return "?";
}

std::string Event::sub_type() const {
  switch (kind) {
    case Kind::kDelivered:
      return "OK";
    case Kind::kDeferred:
    case Kind::kBouncedSoft:
      return "SOFT_BOUNCE";
    case Kind::kBouncedHard:
      return "HARD_BOUNCE";
    case Kind::kProcessed:
      return "PROCESSING_FINISHED";
  }
  return "?";
}

std::string Event::description() const {
  std::string out = remote_host.empty() ? reply : remote_host + ": " + reply;
  if (kind == Kind::kBouncedSoft) {
    out = "all attempts failed; last: " + out;
  }
  return out;
}

Event make_event(Kind kind) {
  Event e;
  std::string raw(16, '\0');
  random_bytes(raw.data(), raw.size());
  e.tag = hex(raw);
  e.kind = kind;
  e.ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  return e;
}

}  // namespace txmail::events
