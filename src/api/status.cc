#include "api/status.h"

#include <boost/json.hpp>
#include <map>

#include "api/problem.h"
#include "common/duration.h"
#include "common/ids.h"
#include "events/message_index.h"

namespace txmail::api {

namespace json = boost::json;

const char* recipient_status(events::Kind kind) {
  return events::status_of(kind);
}

namespace {

json::object event_json(const events::Event& e) {
  json::object o{{"tag", e.tag},
                 {"phase", e.phase()},
                 {"state", e.state()},
                 {"type", e.type()},
                 {"subType", e.sub_type()},
                 {"ts", iso8601_ms(e.ts_ms)},
                 {"description", e.description()}};
  if (e.attempt > 0) {
    o["attempt"] = e.attempt;
  }
  if (!e.remote_host.empty()) {
    o["remoteHost"] = e.remote_host;
  }
  if (!e.egress.empty()) {
    o["egress"] = e.egress;
  }
  if (!e.tls.empty()) {
    o["tls"] = e.tls;
  }
  return o;
}

bool visible(const std::vector<events::Event>& list, const std::string& account) {
  return !list.empty() && (account.empty() || list.front().account == account);
}

}  // namespace

Response StatusApi::job(const std::string& job_id, const std::string& account) {
  if (!is_job_id(job_id)) {
    return problem(404, "Not Found", "no job " + job_id);
  }
  auto list = log_.for_job(job_id);
  if (!list) {
    return from_error(list.error());
  }
  if (!visible(*list, account)) {
    return problem(404, "Not Found", "no job " + job_id);
  }
  // The latest event of each recipient, in the order recipients first appear.
  std::vector<std::string> order;
  std::map<std::string, const events::Event*> latest;
  std::map<std::string, std::uint32_t> attempts;
  for (const auto& e : *list) {
    if (e.account != list->front().account) {
      continue;  // never mix accounts, whatever the log holds
    }
    if (!latest.contains(e.mail_id)) {
      order.push_back(e.mail_id);
    }
    attempts[e.mail_id] = std::max(attempts[e.mail_id], e.attempt);
    // A PROCESSED note does not move a recipient back from a delivery outcome.
    const auto it = latest.find(e.mail_id);
    if (it == latest.end() || e.kind != events::Kind::kProcessed
        || it->second->kind == events::Kind::kStarted) {
      latest[e.mail_id] = &e;
    }
  }
  std::map<std::string, std::int64_t> counts;
  json::array recipients;
  bool finished = true;
  for (const auto& id : order) {
    const events::Event& e = *latest[id];
    const char* status = recipient_status(e.kind);
    ++counts[status];
    finished = finished && events::is_final(e.kind);
    recipients.push_back(json::object{{"mailId", id},
                                      {"email", e.recipient},
                                      {"status", status},
                                      {"subType", e.sub_type()},
                                      {"attempts", attempts[id]},
                                      {"ts", iso8601_ms(e.ts_ms)},
                                      {"description", e.description()}});
  }
  json::object summary{{"total", order.size()}};
  for (const char* s : {"ACCEPTED", "DEFERRED", "DELIVERED", "BOUNCED", "DROPPED"}) {
    summary[s] = counts[s];
  }
  json::object out{{"jobId", job_id},
                   {"account", list->front().account},
                   {"receivedTs", iso8601_ms(list->front().ts_ms)},
                   {"finished", finished},
                   {"summary", std::move(summary)},
                   {"recipients", std::move(recipients)}};
  return Response{200, "application/json", json::serialize(out), {}};
}

Response StatusApi::message(const std::string& mail_id, const std::string& account) {
  auto list = log_.for_mail(mail_id);
  if (!list) {
    return from_error(list.error());
  }
  if (!visible(*list, account)) {
    return problem(404, "Not Found", "no message " + mail_id);
  }
  json::array evs;
  for (const auto& e : *list) {
    if (e.account == list->front().account) {
      evs.push_back(event_json(e));
    }
  }
  const events::Event& last = list->back();
  json::object out{{"mailId", mail_id},
                   {"jobId", last.job_id},
                   {"email", last.recipient},
                   {"from", last.sender},
                   {"status", recipient_status(last.kind)},
                   {"events", std::move(evs)}};
  return Response{200, "application/json", json::serialize(out), {}};
}

}  // namespace txmail::api
