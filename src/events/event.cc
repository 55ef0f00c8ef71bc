#include "events/event.h"

#include <boost/json.hpp>
#include <chrono>

#include "common/ids.h"

namespace txmail::events {

bool is_final(Kind kind) {
  return kind != Kind::kDeferred && kind != Kind::kProcessed && kind != Kind::kStarted;
}

std::string Event::phase() const {
  switch (kind) {
    case Kind::kProcessed:
    case Kind::kStarted:
    case Kind::kDroppedProcessingFailed:
      return "PROCESS";
    case Kind::kDroppedInvalidAddress:
    case Kind::kDroppedPreviouslyBounced:
    case Kind::kDroppedForbidden:
    case Kind::kDroppedValidation:
    case Kind::kDroppedPreviouslyComplained:
    case Kind::kDroppedPreviouslyUnsubscribed:
      return "PRE_PROCESS";
    case Kind::kComplained:
    case Kind::kUnsubscribed:
      return "POST_PROCESS";
    case Kind::kDelivered:
    case Kind::kDeferred:
    case Kind::kBouncedHard:
    case Kind::kBouncedSoft:
      return "DELIVER";
  }
  return "?";
}

std::string Event::state() const {
  return kind == Kind::kStarted                                     ? "INITIAL"
         : kind == Kind::kDeferred || kind == Kind::kProcessed      ? "INTERMEDIATE"
         : kind == Kind::kComplained || kind == Kind::kUnsubscribed ? "POST_DELIVERY"
                                                                    : "FINISHED";
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
    case Kind::kStarted:
      return "STARTED";
    case Kind::kDroppedInvalidAddress:
    case Kind::kDroppedPreviouslyBounced:
    case Kind::kDroppedForbidden:
    case Kind::kDroppedValidation:
    case Kind::kDroppedProcessingFailed:
    case Kind::kDroppedPreviouslyComplained:
    case Kind::kDroppedPreviouslyUnsubscribed:
      return "DROPPED";
    case Kind::kComplained:
      return "COMPLAINED";
    case Kind::kUnsubscribed:
      return "UNSUBSCRIBED";
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
    case Kind::kStarted:
      return "PROCESSING_STARTED";
    case Kind::kDroppedInvalidAddress:
      return "INVALID_ADDRESS";
    case Kind::kDroppedPreviouslyBounced:
      return "PREVIOUSLY_BOUNCED";
    case Kind::kDroppedForbidden:
      return "FORBIDDEN_RECIPIENT";
    case Kind::kDroppedValidation:
      return "VALIDATION_ERROR";
    case Kind::kDroppedProcessingFailed:
      return "PROCESSING_FAILED";
    case Kind::kComplained:
      return "COMPLAINT";
    case Kind::kDroppedPreviouslyComplained:
      return "PREVIOUSLY_COMPLAINED";
    case Kind::kUnsubscribed:
      return "UNSUBSCRIBE";
    case Kind::kDroppedPreviouslyUnsubscribed:
      return "PREVIOUSLY_UNSUBSCRIBED";
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

Kind dropped_kind(tenancy::DropReason reason) {
  switch (reason) {
    case tenancy::DropReason::kInvalidAddress:
      return Kind::kDroppedInvalidAddress;
    case tenancy::DropReason::kValidationError:
      return Kind::kDroppedValidation;
    case tenancy::DropReason::kForbidden:
      return Kind::kDroppedForbidden;
    case tenancy::DropReason::kPreviouslyBounced:
      return Kind::kDroppedPreviouslyBounced;
    case tenancy::DropReason::kPreviouslyComplained:
      return Kind::kDroppedPreviouslyComplained;
    case tenancy::DropReason::kPreviouslyUnsubscribed:
      return Kind::kDroppedPreviouslyUnsubscribed;
  }
  return Kind::kDroppedValidation;
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

Event follow_up(Kind kind, const Event& of) {
  Event e = make_event(kind);
  e.job_id = of.job_id;
  e.mail_id = of.mail_id;
  e.account = of.account;
  e.recipient = of.recipient;
  e.sender = of.sender;
  return e;
}

}  // namespace txmail::events

namespace txmail::events {

std::string to_json(const Endpoint& e) {
  boost::json::object headers;
  for (const auto& [k, v] : e.headers) {
    headers[k] = v;
  }
  return boost::json::serialize(boost::json::object{
      {"url", e.url}, {"headers", std::move(headers)}, {"user", e.user}, {"password", e.password}});
}

std::optional<Endpoint> endpoint_from_json(std::string_view text) {
  boost::system::error_code ec;
  const auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto& o = v.as_object();
  auto str = [&o](const char* k) {
    const auto* p = o.if_contains(k);
    return p != nullptr && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  Endpoint e{str("url"), {}, str("user"), str("password")};
  if (const auto* h = o.if_contains("headers"); h != nullptr && h->is_object()) {
    for (const auto& kv : h->as_object()) {
      if (kv.value().is_string()) {
        e.headers.emplace_back(std::string(kv.key()), std::string(kv.value().as_string()));
      }
    }
  }
  return e;
}

boost::json::object to_json(const JobInfo& job) {
  return boost::json::object{{"account", job.account},         {"received", job.received_ms},
                             {"sender", job.sender},           {"mime_from", job.mime_from},
                             {"reference", job.reference_job}, {"campaign", job.campaign_id},
                             {"cost_center", job.cost_center}, {"endpoint", job.endpoint_sealed}};
}

std::optional<JobInfo> job_info_from_json(const boost::json::value& data, std::string job_id) {
  if (!data.is_object() || job_id.empty()) {
    return std::nullopt;
  }
  const auto& o = data.as_object();
  auto text = [&o](const char* name) {
    const auto* f = o.if_contains(name);
    return f != nullptr && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  const auto* received = o.if_contains("received");
  JobInfo j;
  j.job_id = std::move(job_id);
  j.account = text("account");
  j.received_ms = received != nullptr && received->is_int64() ? received->as_int64() : 0;
  j.sender = text("sender");
  j.mime_from = text("mime_from");
  j.reference_job = text("reference");
  j.campaign_id = text("campaign");
  j.cost_center = text("cost_center");
  j.endpoint_sealed = text("endpoint");
  return j;
}

std::string job_data(const JobInfo& job) {
  auto o = to_json(job);
  o["job"] = job.job_id;
  return boost::json::serialize(o);
}

std::optional<JobInfo> job_info_from_data(std::string_view data) {
  if (data.empty()) {
    return std::nullopt;  // embedded mode: every SMTP job asks (serve.cc's on_job); no parser
  }
  boost::system::error_code ec;
  boost::json::parse_options po;
  po.allow_invalid_utf8 = true;  // an address or reference is kept as it came
  const auto v = boost::json::parse(data, ec, {}, po);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto* id = v.as_object().if_contains("job");
  if (id == nullptr || !id->is_string()) {
    return std::nullopt;
  }
  return job_info_from_json(v, std::string(id->as_string()));
}

boost::json::object to_json(const Event& e) {
  return boost::json::object{{"tag", e.tag},
                             {"ts", e.ts_ms},
                             {"jobId", e.job_id},
                             {"mailId", e.mail_id},
                             {"account", e.account},
                             {"recipient", e.recipient},
                             {"from", e.sender},
                             {"phase", e.phase()},
                             {"state", e.state()},
                             {"type", e.type()},
                             {"subType", e.sub_type()},
                             {"attempt", e.attempt},
                             {"remoteHost", e.remote_host},
                             {"reply", e.reply},
                             {"egress", e.egress},
                             {"tls", e.tls},
                             {"description", e.description()}};
}

}  // namespace txmail::events
