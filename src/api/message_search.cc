#include "api/message_search.h"

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>

#include "api/problem.h"
#include "api/query_params.h"
#include "common/duration.h"
#include "common/idna.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

constexpr std::size_t kDefaultLimit = 100;
constexpr std::size_t kMaxLimit = 1000;
constexpr std::size_t kReportPage = 1000;  // rows per query (and per chunk) of a report

// Digits at [at, at+n) of s, or -1.
int digits(std::string_view s, std::size_t at, std::size_t n) {
  if (at + n > s.size()) {
    return -1;
  }
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return -1;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// An address filter: compared in the log's form, so the domain must convert to an A-label.
void read_address(const std::map<std::string, std::string>& p, const char* name, std::string& out,
                  std::vector<FieldError>& errors) {
  const auto it = p.find(name);
  if (it == p.end()) {
    return;
  }
  const auto at = it->second.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == it->second.size()
      || !idna::canonical_address(it->second)) {
    errors.push_back({name, "not an email address"});
    return;
  }
  out = it->second;
}

void read_time(const std::map<std::string, std::string>& p, const char* name,
               std::optional<std::int64_t>& out, std::vector<FieldError>& errors) {
  if (const auto it = p.find(name); it != p.end()) {
    out = parse_time(it->second);
    if (!out) {
      errors.push_back({name, "not a time: RFC 3339 (2026-12-01T10:00:00Z) or unix milliseconds"});
    }
  }
}

// The filters both endpoints share: account, recipient, sender, status, since, until.
events::MessageQuery read_filters(const std::map<std::string, std::string>& p,
                                  const std::string& account, std::vector<FieldError>& errors) {
  events::MessageQuery q;
  q.account = account;
  if (const auto it = p.find("account"); it != p.end()) {
    if (!account.empty() && it->second != account) {
      errors.push_back({"account", "only the admin token may name another account"});
    }
    q.account = it->second;
  }
  read_address(p, "recipient", q.recipient, errors);
  read_address(p, "sender", q.sender, errors);
  if (const auto it = p.find("status"); it != p.end()) {
    std::string s = it->second;
    std::transform(s.begin(), s.end(), s.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (s != "ACCEPTED" && s != "DEFERRED" && s != "DELIVERED" && s != "BOUNCED"
        && s != "DROPPED") {
      errors.push_back({"status", "one of ACCEPTED, DEFERRED, DELIVERED, BOUNCED, DROPPED"});
    }
    q.status = s;
  }
  read_time(p, "since", q.since_ms, errors);
  read_time(p, "until", q.until_ms, errors);
  if (q.since_ms && q.until_ms && *q.until_ms <= *q.since_ms) {
    errors.push_back({"until", "must be after since"});
  }
  return q;
}

// The cursor is opaque to clients: "<first_ts>.<seq>" of the last row they were given.
std::string cursor_text(const events::MessageCursor& c) {
  return std::to_string(c.ts_ms) + "." + std::to_string(c.seq);
}

std::optional<events::MessageCursor> parse_cursor(std::string_view s) {
  const std::size_t dot = s.find('.');
  if (dot == std::string_view::npos) {
    return std::nullopt;
  }
  const auto ts = whole_number(s.substr(0, dot));
  const auto seq = whole_number(s.substr(dot + 1));
  if (!ts || !seq || *seq <= 0) {
    return std::nullopt;
  }
  return events::MessageCursor{*ts, *seq};
}

json::object row_json(const events::MessageRow& r) {
  json::object o{{"mailId", r.mail_id},
                 {"jobId", r.job_id},
                 {"account", r.account},
                 {"email", r.recipient},
                 {"from", r.sender},
                 {"status", r.status},
                 {"firstTs", iso8601_ms(r.first_ts_ms)},
                 {"lastTs", iso8601_ms(r.last_ts_ms)},
                 {"reply", r.reply}};
  if (r.attempt > 0) {
    o["attempt"] = r.attempt;
  }
  if (!r.remote_host.empty()) {
    o["remoteHost"] = r.remote_host;
  }
  return o;
}

constexpr const char* kCsvHeader =
    "mail_id,job_id,account,recipient,sender,status,attempt,remote_host,reply,first_ts,last_ts\r\n";

void append_csv(std::string& out, const events::MessageRow& r) {
  for (const std::string& field :
       {r.mail_id, r.job_id, r.account, r.recipient, r.sender, r.status, std::to_string(r.attempt),
        r.remote_host, r.reply, iso8601_ms(r.first_ts_ms)}) {
    out += csv_field(field);
    out += ',';
  }
  out += csv_field(iso8601_ms(r.last_ts_ms));
  out += "\r\n";
}

// The report's producer: each call reads the next page after the last row sent, so nothing
// is held between calls but the query and its cursor.
struct ReportStream {
  events::MessageSearch& log;
  events::MessageQuery query;
  bool header_sent = false;
  bool done = false;

  Result<std::string> next() {
    if (done) {
      return std::string();
    }
    auto rows = log.search(query);
    if (!rows) {
      return tl::unexpected(rows.error());
    }
    std::string out = header_sent ? "" : kCsvHeader;
    header_sent = true;
    for (const auto& r : *rows) {
      append_csv(out, r);
    }
    done = rows->size() < query.limit;
    if (!rows->empty()) {
      query.after = rows->back().cursor();
    }
    return out;
  }
};

}  // namespace

// The times a query may name: 1970 to the end of 9999 (no arithmetic on them can overflow).
constexpr std::int64_t kLatestMs = 253402300799999;

std::optional<std::int64_t> parse_time(std::string_view text) {
  auto in_range = [](std::optional<std::int64_t> ms) {
    return ms && *ms >= 0 && *ms <= kLatestMs ? ms : std::nullopt;
  };
  const std::string_view s = text;
  if (s.find_first_not_of("0123456789") == std::string_view::npos) {
    return in_range(whole_number(s));
  }
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  const int year = digits(s, 0, 4);
  const int month = digits(s, 5, 2);
  const int day = digits(s, 8, 2);
  const int hour = digits(s, 11, 2);
  const int minute = digits(s, 14, 2);
  const int second = digits(s, 17, 2);
  if (s.size() < 20 || year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0
      || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':'
      || s[16] != ':' || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(year),
                                        std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) {
    return std::nullopt;
  }
  std::size_t at = 19;
  std::int64_t ms = 0;
  if (s[at] == '.') {
    std::int64_t scale = 100;
    for (++at; at < s.size() && s[at] >= '0' && s[at] <= '9'; ++at, scale /= 10) {
      ms += (s[at] - '0') * scale;
    }
  }
  std::int64_t offset_min = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z') && at + 1 == s.size()) {
    offset_min = 0;
  } else if (at + 6 == s.size() && (s[at] == '+' || s[at] == '-') && s[at + 3] == ':'
             && digits(s, at + 1, 2) >= 0 && digits(s, at + 4, 2) >= 0) {
    const std::int64_t sign = s[at] == '-' ? -1 : 1;
    offset_min = sign * (std::int64_t{digits(s, at + 1, 2)} * 60 + digits(s, at + 4, 2));
  } else {
    return std::nullopt;
  }
  const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  return in_range(((days * 24 + hour) * 60 + minute - offset_min) * 60000
                  + std::int64_t{second} * 1000 + ms);
}

std::string csv_field(std::string_view value) {
  // A cell a spreadsheet would take for a formula (=, +, -, @, tab, CR first: addresses and
  // remote replies come from strangers) is kept as text by a leading apostrophe (OWASP).
  std::string guarded;
  if (!value.empty()
      && std::string_view("=+-@\t\r").find(value.front()) != std::string_view::npos) {
    guarded = "'" + std::string(value);
    value = guarded;
  }
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(value);
  }
  std::string out = "\"";
  for (const char c : value) {
    out += c;
    if (c == '"') {
      out += '"';
    }
  }
  out += '"';
  return out;
}

Response MessageSearchApi::search(const std::string& query, const std::string& account) {
  std::vector<FieldError> errors;
  const auto p = read_query(
      query, {"account", "recipient", "sender", "status", "since", "until", "limit", "cursor"},
      errors);
  events::MessageQuery q = read_filters(p, account, errors);
  q.limit = kDefaultLimit;
  if (const auto it = p.find("limit"); it != p.end()) {
    const auto n = whole_number(it->second);
    if (!n || *n < 1 || *n > static_cast<std::int64_t>(kMaxLimit)) {
      errors.push_back({"limit", "a number from 1 to 1000"});
    } else {
      q.limit = static_cast<std::size_t>(*n);
    }
  }
  if (const auto it = p.find("cursor"); it != p.end()) {
    q.after = parse_cursor(it->second);
    if (!q.after) {
      errors.push_back({"cursor", "not a cursor this API gave"});
    }
  }
  if (!errors.empty()) {
    return invalid(errors);
  }
  const std::size_t page = q.limit;
  q.limit = page + 1;  // one more tells whether a next page exists
  auto rows = log_.search(q);
  if (!rows) {
    return from_error(rows.error());
  }
  json::array list;
  for (std::size_t i = 0; i < rows->size() && i < page; ++i) {
    list.push_back(row_json((*rows)[i]));
  }
  json::object out{{"messages", std::move(list)}, {"nextCursor", nullptr}};
  if (rows->size() > page) {
    out["nextCursor"] = cursor_text((*rows)[page - 1].cursor());
  }
  return Response{200, "application/json", json::serialize(out), {}};
}

Response MessageSearchApi::deliveries(const std::string& query, const std::string& account,
                                      std::int64_t now_ms) {
  std::vector<FieldError> errors;
  const auto p = read_query(query, {"account", "since", "until"}, errors);
  events::MessageQuery q = read_filters(p, account, errors);
  if (!q.since_ms && !p.contains("since")) {
    errors.push_back({"since", "required"});
  }
  if (q.since_ms && !q.until_ms) {
    q.until_ms = std::max(now_ms + 1, *q.since_ms + 1);
  }
  if (q.since_ms && q.until_ms && *q.until_ms - *q.since_ms > kReportMaxRangeMs) {
    errors.push_back({"until", "a report covers 31 days at most"});
  }
  if (!errors.empty()) {
    return invalid(errors);
  }
  q.oldest_first = true;
  q.limit = kReportPage;
  auto producer = std::make_shared<ReportStream>(ReportStream{log_, q});
  Response res{200,
               "text/csv; charset=utf-8",
               "",
               {{"Content-Disposition", R"(attachment; filename="deliveries.csv")"}}};
  res.stream = [producer] {
    return producer->next();
  };
  return res;
}

}  // namespace txmail::api
