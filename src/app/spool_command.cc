#include "app/spool_command.h"

#include <fmt/format.h>

#include <boost/json.hpp>
#include <cstdio>

#include "common/base64.h"
#include "store/rocks_spool.h"
#include "tenancy/password_hash.h"

namespace txmail::app {

namespace json = boost::json;

namespace {

json::object describe(const store::SpoolRecord& r, bool with_message) {
  static constexpr const char* kStatus[] = {"queued", "delivered", "bounced"};
  json::array rcpts;
  for (const auto& rcpt : r.recipients) {
    rcpts.push_back(json::object{{"address", rcpt.address},
                                 {"mail_id", rcpt.mail_id},
                                 {"status", kStatus[static_cast<int>(rcpt.status)]},
                                 {"attempts", rcpt.attempts}});
  }
  json::object o{{"job_id", r.job_id},
                 {"account", r.account},
                 {"sender", r.sender},
                 {"received_ms", r.received_ms},
                 {"smtputf8", (r.flags & store::SpoolRecord::kFlagSmtpUtf8) != 0},
                 {"eight_bit", (r.flags & store::SpoolRecord::kFlag8BitMime) != 0},
                 {"size", r.message.size()},
                 {"recipients", std::move(rcpts)}};
  if (with_message) {
    o["message_b64"] = base64_encode(r.message);
  }
  return o;
}

Result<std::unique_ptr<store::RocksSpool>> open_spool(const std::string& data_dir) {
  return store::RocksSpool::open(data_dir + "/spool", store::RocksSpool::Mode::kReadOnly);
}

}  // namespace

int spool_list(const std::string& data_dir, bool with_messages) {
  auto spool = open_spool(data_dir);
  if (!spool) {
    fmt::print(stderr, "txmail: spool: {}\n", spool.error().detail);
    return 1;
  }
  json::array out;
  int corrupt = 0;
  auto n = (*spool)->scan(
      [&](store::SpoolRecord&& r) {
        out.push_back(describe(r, with_messages));
        return true;
      },
      [&](const Error& e) {
        ++corrupt;
        fmt::print(stderr, "txmail: unreadable spool record: {}\n", e.detail);
      },
      with_messages ? store::Spool::Messages::kWhole : store::Spool::Messages::kEnvelopes);
  if (!n) {
    fmt::print(stderr, "txmail: spool: {}\n", n.error().detail);
    return 1;
  }
  fmt::print("{}\n", json::serialize(out));
  return corrupt == 0 ? 0 : 1;
}

int spool_show(const std::string& data_dir, const std::string& job_id, bool raw) {
  auto spool = open_spool(data_dir);
  if (!spool) {
    fmt::print(stderr, "txmail: spool: {}\n", spool.error().detail);
    return 1;
  }
  auto record = (*spool)->get(job_id);
  if (!record) {
    fmt::print(stderr, "txmail: spool: {}\n", record.error().detail);
    return 1;
  }
  if (!record->has_value()) {
    fmt::print(stderr, "txmail: no job {} in the spool\n", job_id);
    return 1;
  }
  if (raw) {
    std::fwrite((*record)->message.data(), 1, (*record)->message.size(), stdout);
  } else {
    fmt::print("{}\n", json::serialize(describe(**record, true)));
  }
  return 0;
}

}  // namespace txmail::app
