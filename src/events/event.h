// Events: what happened to each recipient (DESIGN.md section 2, step 9). The event log is the
// one source for the status API, webhooks, the suppression list and metrics. Each event has a
// unique tag (for de-duplication by consumers) and the phase/state/type/subType of the
// catalogue in issue core-5.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tenancy/drop_reason.h"

namespace txmail::events {

enum class Kind {
  kDelivered,    // DELIVER/FINISHED/DELIVERED/OK
  kDeferred,     // DELIVER/INTERMEDIATE/DEFERRED/SOFT_BOUNCE
  kBouncedHard,  // DELIVER/FINISHED/BOUNCED/HARD_BOUNCE
  kBouncedSoft,  // DELIVER/FINISHED/BOUNCED/SOFT_BOUNCE: all attempts failed
  kProcessed,    // PROCESS/INTERMEDIATE/PROCESSED/PROCESSING_FINISHED: accepted, with a note
                 // (txmail emits it when there is something to say, e.g. sent unsigned)
  // Values are stored: new kinds go at the end.
  kStarted,                   // PROCESS/INITIAL/STARTED/PROCESSING_STARTED: accepted
  kDroppedInvalidAddress,     // PRE_PROCESS/FINISHED/DROPPED/INVALID_ADDRESS
  kDroppedPreviouslyBounced,  // PRE_PROCESS/FINISHED/DROPPED/PREVIOUSLY_BOUNCED
  kDroppedForbidden,          // PRE_PROCESS/FINISHED/DROPPED/FORBIDDEN_RECIPIENT
  kDroppedValidation,         // PRE_PROCESS/FINISHED/DROPPED/VALIDATION_ERROR
  kDroppedProcessingFailed,   // PROCESS/FINISHED/DROPPED/PROCESSING_FAILED
  // A feedback report (RFC 5965 ARF) about a message the recipient got (issue bounce-1):
  // POST_PROCESS/POST_DELIVERY/COMPLAINED/COMPLAINT, the feedback type in the description.
  kComplained,
  kDroppedPreviouslyComplained,  // PRE_PROCESS/FINISHED/DROPPED/PREVIOUSLY_COMPLAINED
  // The recipient unsubscribed through the one-click link txmail hosts (RFC 8058) or its mailto
  // (issue bounce-1, item 5): POST_PROCESS/POST_DELIVERY/UNSUBSCRIBED/UNSUBSCRIBE, the way in
  // the description.
  kUnsubscribed,
  kDroppedPreviouslyUnsubscribed,  // PRE_PROCESS/FINISHED/DROPPED/PREVIOUSLY_UNSUBSCRIBED
};

// The last kind this version knows (tables indexed by kind, kinds read from another node).
inline constexpr Kind kLastKind = Kind::kDroppedPreviouslyUnsubscribed;

// A recipient's fate is settled by this event (nothing follows it).
bool is_final(Kind kind);

struct Event {
  std::string tag;  // 16 random bytes, hex
  std::int64_t ts_ms = 0;
  Kind kind = Kind::kDelivered;
  std::string job_id;
  std::string mail_id;
  std::string account;
  std::string recipient;
  std::string sender;
  std::uint32_t attempt = 0;
  std::string remote_host;  // MX name and address, "mx.example.org[192.0.2.1]"
  std::string reply;        // what the remote said, or what went wrong
  std::string egress;       // source address used
  std::string tls;          // TLS version, empty for clear text
  // The node that recorded it, when another node of the region did (cluster mode: the event
  // was copied here from the region's events stream); empty for this node's own.
  std::string origin;
  std::int64_t origin_seq = 0;  // a copy's sequence number in its origin's log

  std::string phase() const;
  std::string state() const;
  std::string type() const;
  std::string sub_type() const;
  std::string description() const;
};

Event make_event(Kind kind);  // with a fresh tag and the current time
// An event of `kind` about the same message as `of` (its job, mail id, account, recipient and
// sender), with a fresh tag and the current time: what comes back after delivery.
Event follow_up(Kind kind, const Event& of);
// The DROPPED event of a recipient dropped at intake.
Kind dropped_kind(tenancy::DropReason reason);

// What push notifications need to know about a job beyond its events (stored once per job):
// the references of the job and where its notifications go.
struct JobInfo {
  std::string job_id;
  std::string account;
  std::int64_t received_ms = 0;
  std::string sender;     // envelope
  std::string mime_from;  // header From address
  std::string reference_job;
  std::string campaign_id;
  std::string cost_center;
  std::string endpoint_sealed;  // the job's own endpoint (Endpoint JSON, sealed); "" for none
};

// A job's data as it travels between the nodes of a region: with the first of its events in the
// events stream (a JSON object without the job id, which the event has) and with its records in
// a cluster spool (job_data(): JSON text with the id, for a job's other blocks have records of
// their own ids). Both readers give nullopt for what is not such an object.
boost::json::object to_json(const JobInfo& job);
std::optional<JobInfo> job_info_from_json(const boost::json::value& data, std::string job_id);
std::string job_data(const JobInfo& job);
std::optional<JobInfo> job_info_from_data(std::string_view data);

// A push notification endpoint: URL, extra headers and Basic credentials.
struct Endpoint {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string user;
  std::string password;

  bool empty() const { return url.empty(); }
};

std::string to_json(const Endpoint& e);
std::optional<Endpoint> endpoint_from_json(std::string_view text);

// An event as `txmail events` and the status API show it.
boost::json::object to_json(const Event& e);

}  // namespace txmail::events
