// Sandbox delivery (issue console-1, item 3): the units of a sandbox account are not sent; the
// delivery engine hands their message, as it would have gone out (signed at intake, with the
// envelope sender delivery would have used), to the capture store and records the outcome a
// real server would have given. Simulator recipients, at the reserved domain
// simulator.txmail.invalid (RFC 2606: never resolves), give the other outcomes:
//   bounce@      550 5.1.1, a hard bounce (no suppression entry: the address stays usable)
//   defer@       451 4.3.0 at the first attempt, delivered (captured) at the next one
//   suppressed@  dropped at intake as PREVIOUSLY_BOUNCED (tenancy::RecipientPolicy asks here)
//   complaint@   delivered (captured), then a COMPLAINED event as a feedback loop would give
//                (app/serve.cc, complaint_of(); no suppression entry, as for bounce@)
// Pure: no I/O. Only sandbox accounts get the simulator; other accounts' mail to the domain
// bounces at the MX lookup like any domain that does not exist.
#pragma once

#include <cstdint>
#include <string_view>

#include "smtp/client/client_session.h"

namespace txmail::queue {

inline constexpr std::string_view kSimulatorDomain = "simulator.txmail.invalid";
// What an event of a sandbox delivery names as the remote host.
inline constexpr std::string_view kSandboxHost = "sandbox";

enum class Simulated { kNone, kBounce, kDefer, kSuppressed, kComplaint };

// The simulator address `address` is (local part and domain in any case), or kNone.
Simulated simulated(std::string_view address);

// The answer a sandbox delivery records for a recipient with `attempts` attempts so far, as
// the reply table (smtp/client/trouble.h) judges the reply the simulator gives.
smtp::RecipientAnswer sandbox_answer(Simulated what, std::uint32_t attempts);

}  // namespace txmail::queue
