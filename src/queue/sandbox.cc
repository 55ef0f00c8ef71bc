#include "queue/sandbox.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "smtp/client/trouble.h"

namespace txmail::queue {

namespace {

bool same_text(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x))
                  == std::tolower(static_cast<unsigned char>(y));
         });
}

smtp::RecipientAnswer judged(smtp::Stage stage, const smtp::Reply& reply) {
  smtp::RecipientAnswer a;
  a.verdict = smtp::classify_reply(stage, reply);
  a.reply = reply;
  a.detail = std::to_string(reply.code) + " " + reply.enhanced + " " + reply.lines.back();
  return a;
}

}  // namespace

Simulated simulated(std::string_view address) {
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || !same_text(address.substr(at + 1), kSimulatorDomain)) {
    return Simulated::kNone;
  }
  const std::string_view local = address.substr(0, at);
  if (same_text(local, "bounce")) {
    return Simulated::kBounce;
  }
  if (same_text(local, "defer")) {
    return Simulated::kDefer;
  }
  if (same_text(local, "suppressed")) {
    return Simulated::kSuppressed;
  }
  if (same_text(local, "complaint")) {
    return Simulated::kComplaint;
  }
  return Simulated::kNone;
}

smtp::RecipientAnswer sandbox_answer(Simulated what, std::uint32_t attempts) {
  if (what == Simulated::kBounce) {
    auto a = judged(smtp::Stage::kRcpt,
                    smtp::Reply(550, "5.1.1", "simulated hard bounce: no such user (sandbox)"));
    // A simulator address is never suppressed: every test of it gives the bounce again.
    a.verdict.suppression = smtp::SuppressionClass::kNone;
    return a;
  }
  if (what == Simulated::kDefer && attempts == 0) {
    return judged(smtp::Stage::kRcpt,
                  smtp::Reply(451, "4.3.0", "simulated deferral (sandbox): try again later"));
  }
  return judged(smtp::Stage::kDataEnd,
                smtp::Reply(250, "2.0.0", "Ok: captured in the sandbox, not sent"));
}

}  // namespace txmail::queue
