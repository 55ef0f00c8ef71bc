// The JobRequest of POST /v2/jobs (REFERENCE-API.md section 2.3) read and validated: every
// invalid field reported with its JSON path, unknown fields refused, CR or LF in anything that
// ends up in a header refused. Pure: no I/O. The intake (jobs.cc) composes and spools it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/job_limits.h"
#include "api/json_input.h"
#include "events/event.h"
#include "mime/compose.h"
#include "tenancy/drop_reason.h"

namespace txmail::api::jobreq {

struct Recipient {
  std::string address;  // valid: the addr-spec; else what was given
  std::string name;
  std::optional<tenancy::DropReason> drop;  // nullopt: accepted
  std::string detail;
  std::string mail_id;
};

struct Block {
  std::vector<Recipient> to;
  std::vector<Recipient> cc;
  std::vector<Recipient> bcc;
  std::vector<mime::Mailbox> reply_to;
  std::string in_reply_to;
  std::string list_unsubscribe;
  mime::Priority priority = mime::Priority::kNone;
  std::vector<std::pair<std::string, std::string>> x_headers;
};

struct Job {
  mime::Mailbox envelope_from;
  mime::Mailbox mime_from;
  std::string subject;
  std::string text;
  std::string html;
  std::vector<mime::Attachment> attachments;
  std::vector<Block> blocks;
  // Job-level defaults for the blocks.
  Block defaults;
  std::string reference_job;
  std::string campaign_id;
  std::string cost_center;
  events::Endpoint endpoint;
};

// Reads and validates the whole request; errors go to the JsonObject's error list.
Job read_job(JsonObject& top, const JobLimits& limits);

// ASCII case-insensitive equality.
bool ieq(std::string_view a, std::string_view b);

}  // namespace txmail::api::jobreq
