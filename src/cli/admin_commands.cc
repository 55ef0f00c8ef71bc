#include "cli/admin_commands.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/base64.h"

namespace txmail::cli {

namespace json = boost::json;

namespace {

// Sends the request; on success prints the answer (JSON mode) or hands it to `human`.
template <typename Human>
int run(const ApiTarget& t, const std::string& method, const std::string& path,
        const std::string& body, bool as_json, Human human) {
  auto reply = call_or_report(t, method, path, body);
  if (!reply) {
    return 1;
  }
  if (as_json) {
    fmt::print("{}\n", reply->body.empty() ? "{}" : reply->body);
    return 0;
  }
  boost::system::error_code ec;
  json::value v = reply->body.empty() ? json::value(json::object()) : json::parse(reply->body, ec);
  if (ec) {
    fmt::print("{}\n", reply->body);
    return 0;
  }
  human(v);
  return 0;
}

std::string str(const json::value& v, const char* key) {
  const auto* p = v.is_object() ? v.as_object().if_contains(key) : nullptr;
  if (p == nullptr) {
    return {};
  }
  return p->is_string() ? std::string(p->as_string()) : json::serialize(*p);
}

json::array strings(const std::vector<std::string>& list) {
  json::array out;
  for (const auto& s : list) {
    out.emplace_back(s);
  }
  return out;
}

std::string path_part(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '@') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

void print_account(const json::value& a) {
  fmt::print("{}{}{}{}  pool={}  hourly_limit={}\n", str(a, "name"),
             str(a, "disabled") == "true" ? " (disabled)" : "",
             str(a, "sandbox") == "true" ? " (sandbox)" : "",
             str(a, "unsubscribe") == "true" ? " (unsubscribe)" : "", str(a, "pool"),
             str(a, "hourlyLimit").empty() ? "default" : str(a, "hourlyLimit"));
}

const char* content_type_for(const std::string& file) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".pdf", "application/pdf"},   {".png", "image/png"},    {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},       {".gif", "image/gif"},    {".txt", "text/plain"},
      {".csv", "text/csv"},          {".html", "text/html"},   {".zip", "application/zip"},
      {".json", "application/json"}, {".ics", "text/calendar"}};
  std::string ext = std::filesystem::path(file).extension().string();
  for (auto& c : ext) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (const auto& [e, t] : kTypes) {
    if (ext == e) {
      return t;
    }
  }
  return "application/octet-stream";
}

}  // namespace

int account_create(const ApiTarget& t, const AccountArgs& a) {
  json::object body{{"name", a.name}};
  if (!a.password.empty()) {
    body["password"] = a.password;
  }
  if (!a.allow_ips.empty()) {
    body["allowIps"] = strings(a.allow_ips);
  }
  if (!a.api_allow_ips.empty()) {
    body["apiAllowIps"] = strings(a.api_allow_ips);
  }
  if (!a.pool.empty()) {
    body["pool"] = a.pool;
  }
  if (a.hourly_limit >= 0) {
    body["hourlyLimit"] = a.hourly_limit;
  }
  if (a.allow_unverified_domains) {
    body["allowUnverifiedDomains"] = true;
  }
  if (a.sandbox) {
    body["sandbox"] = true;
  }
  if (a.unsubscribe) {
    body["unsubscribe"] = true;
  }
  return run(t, "POST", "/v2/admin/accounts", json::serialize(body), a.json,
             [](const json::value& v) {
               print_account(v);
               if (const std::string pw = str(v, "password"); !pw.empty()) {
                 fmt::print("SMTP password: {}   (shown once)\n", pw);
               }
               const auto& key = v.as_object().at("apiKey");
               fmt::print("API key {}: {}   (shown once)\n", str(key, "id"), str(key, "key"));
             });
}

int account_list(const ApiTarget& t, const AccountArgs& a) {
  return run(t, "GET", "/v2/admin/accounts", "", a.json, [](const json::value& v) {
    for (const auto& acc : v.as_object().at("accounts").as_array()) {
      print_account(acc);
    }
  });
}

int account_show(const ApiTarget& t, const AccountArgs& a) {
  return run(t, "GET", "/v2/admin/accounts/" + path_part(a.name), "", a.json, print_account);
}

int account_set_disabled(const ApiTarget& t, const AccountArgs& a, bool disabled) {
  return run(t, "POST",
             "/v2/admin/accounts/" + path_part(a.name) + (disabled ? "/disable" : "/enable"), "",
             a.json, print_account);
}

int account_delete(const ApiTarget& t, const AccountArgs& a) {
  return run(t, "DELETE", "/v2/admin/accounts/" + path_part(a.name), "", a.json,
             [&a](const json::value&) { fmt::print("account {} deleted\n", a.name); });
}

int drain(const ApiTarget& t, bool resume, bool as_json) {
  return run(t, "POST", resume ? "/v2/admin/resume" : "/v2/admin/drain", "", as_json,
             [resume](const json::value& v) {
               const auto& o = v.as_object();
               const bool ready = o.at("ready").as_bool();
               fmt::print("{}; the node is {}{}\n",
                          resume ? "resumed" : "draining: intake stopped, deliveries go on",
                          ready ? "ready" : "not ready: ", ready ? "" : str(v, "reason"));
             });
}

int queue_list(const ApiTarget& t, const QueueArgs& q) {
  // A time or "-" (JSON null).
  auto when = [](const json::value& v, const char* key) {
    const std::string s = str(v, key);
    return s == "null" ? std::string("-") : s;
  };
  return run(t, "GET", "/v2/admin/queues", "", q.json, [&when](const json::value& v) {
    fmt::print(
        "{} jobs queued, the oldest accepted {}; {} recipients ready, {} waiting; {} "
        "connections\n",
        str(v, "jobs"), when(v, "oldestTs"), str(v, "readyRecipients"), str(v, "waitingRecipients"),
        str(v, "connections"));
    for (const auto& d : v.as_object().at("destinations").as_array()) {
      std::string state = str(d, "paused") == "true" ? "paused" : "";
      if (const std::string until = when(d, "backedOffUntil"); until != "-") {
        state += fmt::format("backed off until {} ({})", until, str(d, "lastReply"));
      }
      fmt::print("site {}  source={}  ready={}  waiting={}  connections={}  oldest={}  {}\n",
                 str(d, "site"), str(d, "source"), str(d, "recipients"),
                 str(d, "waitingRecipients"), str(d, "connections"), when(d, "oldestTs"), state);
    }
    for (const auto& w : v.as_object().at("waiting").as_array()) {
      fmt::print("domain {}  waiting={}  held={}  next attempt {}{}\n", str(w, "domain"),
                 str(w, "recipients"), str(w, "held"), when(w, "nextAttemptTs"),
                 str(w, "paused") == "true" ? "  paused" : "");
    }
    for (const auto& p : v.as_object().at("pauses").as_array()) {
      const std::string site = str(p, "site");
      fmt::print("paused {} {} until {}\n", site.empty() ? "domain" : "site",
                 site.empty() ? str(p, "domain") : site,
                 str(p, "untilTs") == "null" ? "resumed" : str(p, "untilTs"));
    }
  });
}

int queue_action(const ApiTarget& t, const std::string& verb, const QueueArgs& q) {
  if (q.site.empty() == q.domain.empty()) {
    fmt::print(stderr, "txmail: queue {} needs --site or --domain\n", verb);
    return 2;
  }
  json::object body;
  body[q.site.empty() ? "domain" : "site"] = q.site.empty() ? q.domain : q.site;
  if (!q.until.empty()) {
    body["until"] = q.until;
  }
  return run(t, "POST", "/v2/admin/queues/" + verb, json::serialize(body), q.json,
             [&verb](const json::value& v) {
               fmt::print("{}: {} units held, {} due now, {} back-offs ended\n", verb,
                          str(v, "held"), str(v, "broughtForward"), str(v, "backOffsCleared"));
             });
}

int key_create(const ApiTarget& t, const AccountArgs& a) {
  const json::object body{{"name", a.key_name.empty() ? std::string("cli") : a.key_name}};
  return run(t, "POST", "/v2/admin/accounts/" + path_part(a.name) + "/keys", json::serialize(body),
             a.json, [](const json::value& v) {
               fmt::print("API key {}: {}   (shown once)\n", str(v, "id"), str(v, "key"));
             });
}

int key_list(const ApiTarget& t, const AccountArgs& a) {
  return run(t, "GET", "/v2/admin/accounts/" + path_part(a.name) + "/keys", "", a.json,
             [](const json::value& v) {
               for (const auto& k : v.as_object().at("keys").as_array()) {
                 fmt::print("{}  {}\n", str(k, "id"), str(k, "name"));
               }
             });
}

int key_revoke(const ApiTarget& t, const AccountArgs& a) {
  return run(t, "DELETE",
             "/v2/admin/accounts/" + path_part(a.name) + "/keys/" + path_part(a.key_id), "", a.json,
             [&a](const json::value&) { fmt::print("API key {} revoked\n", a.key_id); });
}

int suppression_list(const ApiTarget& t, const SuppressionArgs& s) {
  std::string path = "/v2/suppressions?limit=" + std::to_string(s.limit);
  if (!s.after.empty()) {
    path += "&after=" + path_part(s.after);
  }
  return run(t, "GET", path, "", s.json, [](const json::value& v) {
    for (const auto& e : v.as_object().at("suppressions").as_array()) {
      fmt::print("{}  {}  until {}  {}\n", str(e, "email"), str(e, "type"), str(e, "expiresTs"),
                 str(e, "reason"));
    }
    if (const std::string next = str(v, "next"); !next.empty()) {
      fmt::print("more: {}\n", next);
    }
  });
}

int suppression_add(const ApiTarget& t, const SuppressionArgs& s) {
  json::object body{{"email", s.email}};
  if (!s.type.empty()) {
    body["type"] = s.type;
  }
  if (!s.reason.empty()) {
    body["reason"] = s.reason;
  }
  return run(t, "POST", "/v2/suppressions", json::serialize(body), s.json,
             [](const json::value& v) {
               fmt::print("{} suppressed until {}\n", str(v, "email"), str(v, "expiresTs"));
             });
}

int suppression_remove(const ApiTarget& t, const SuppressionArgs& s) {
  return run(t, "DELETE", "/v2/suppressions/" + path_part(s.email), "", s.json,
             [&s](const json::value&) { fmt::print("{} is deliverable again\n", s.email); });
}

int send(const ApiTarget& t, const SendArgs& s) {
  json::object job;
  job["subject"] = json::object{{"content", s.subject}};
  if (!s.html.empty()) {
    job["body"] = json::object{{"contentType", "text/html"}, {"content", s.html}};
    if (!s.text.empty()) {
      job["alternative"] = json::object{{"content", s.text}};
    }
  } else if (!s.text.empty()) {
    job["body"] = json::object{{"contentType", "text/plain"}, {"content", s.text}};
  }
  json::array attachments;
  for (const auto& file : s.attach) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      fmt::print(stderr, "txmail: cannot read --attach '{}'\n", file);
      return 1;
    }
    std::ostringstream data;
    data << in.rdbuf();
    attachments.push_back(json::object{{"name", std::filesystem::path(file).filename().string()},
                                       {"contentType", content_type_for(file)},
                                       {"content", base64_encode(data.str())}});
  }
  if (!attachments.empty()) {
    job["attachments"] = std::move(attachments);
  }
  job["mail"] = json::object{{"from", json::object{{"email", s.from}}}};
  json::object mail;
  for (auto [key, list] :
       {std::pair{"to", &s.to}, std::pair{"cc", &s.cc}, std::pair{"bcc", &s.bcc}}) {
    if (!list->empty()) {
      json::array out;
      for (const auto& r : *list) {
        out.push_back(json::object{{"email", r}});
      }
      mail[key] = std::move(out);
    }
  }
  job["recipients"] = json::array{json::object{{"mail", std::move(mail)}}};
  return run(t, "POST", "/v2/jobs", json::serialize(job), s.json, [](const json::value& v) {
    fmt::print("job {}\n", str(v, "jobId"));
    for (const auto& r : v.as_object().at("recipients").as_array()) {
      const std::string reason = str(r, "reason");
      fmt::print("  {}  {}{}\n", str(r, "email"), str(r, "status"),
                 reason.empty() ? "" : " " + reason);
    }
  });
}

}  // namespace txmail::cli
