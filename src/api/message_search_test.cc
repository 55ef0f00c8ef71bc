#include "api/message_search.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace txmail::api {
namespace {

namespace json = boost::json;

// Rows 1..n (the fake ignores every filter but the order, the cursor and the limit).
class FakeSearch : public events::MessageSearch {
 public:
  explicit FakeSearch(int n) : n_(n) {}

  Result<std::vector<events::MessageRow>> search(const events::MessageQuery& q) override {
    last = q;
    ++calls;
    std::vector<events::MessageRow> out;
    for (int k = 1; k <= n_ && out.size() < q.limit; ++k) {
      const int i = q.oldest_first ? k : n_ + 1 - k;
      if (q.after && (q.oldest_first ? i <= q.after->seq : i >= q.after->seq)) {
        continue;
      }
      events::MessageRow r;
      r.seq = i;
      r.first_ts_ms = 1000L * i;
      r.mail_id = "job#" + std::to_string(i);
      r.reply = i == 2 ? "550 \"no\", said\r\nthe host" : "";
      out.push_back(r);
    }
    return out;
  }

  events::MessageQuery last;
  int calls = 0;

 private:
  int n_;
};

TEST(MessageSearch, ParsesTimes) {
  struct Case {
    const char* text = "";
    std::optional<std::int64_t> ms;
  };

  for (const Case& c :
       {Case{"0", 0}, Case{"1764583200000", 1764583200000},
        Case{"2025-12-01T10:00:00Z", 1764583200000},
        Case{"2025-12-01T11:00:00.250+01:00", 1764583200250},
        Case{"2025-12-01t10:00:00.5z", 1764583200500}, Case{"2025-02-30T10:00:00Z", std::nullopt},
        Case{"2025-12-01 10:00:00Z", std::nullopt}, Case{"2025-12-01T10:00:00", std::nullopt},
        Case{"yesterday", std::nullopt}, Case{"", std::nullopt}, Case{"-5", std::nullopt},
        // Out of range (before 1970, after 9999, or past int64): refused, never overflowed.
        Case{"0000-01-01T00:00:00Z", std::nullopt}, Case{"9223372036854775807", std::nullopt},
        Case{"99999999999999999999", std::nullopt},
        Case{"9999-12-31T23:59:59.999Z", 253402300799999}}) {
    EXPECT_EQ(parse_time(c.text), c.ms) << c.text;
  }
}

TEST(MessageSearch, QuotesCsvFields) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\r\nlines"), "\"two\r\nlines\"");
  // Formula cells are kept as text.
  EXPECT_EQ(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
  EXPECT_EQ(csv_field("+1@dest.test"), "'+1@dest.test");
  EXPECT_EQ(csv_field("-x"), "'-x");
  EXPECT_EQ(csv_field("@sum"), "'@sum");
  EXPECT_EQ(csv_field("a=b"), "a=b");
}

TEST(MessageSearch, EveryBadParameterIsNamed) {
  FakeSearch log(3);
  MessageSearchApi api(log);

  struct Case {
    const char* query = "";
    const char* path = "";
  };

  for (const Case& c :
       {Case{"limit=0", "limit"}, Case{"limit=1001", "limit"}, Case{"limit=x", "limit"},
        Case{"status=LOST", "status"}, Case{"since=soon", "since"},
        Case{"until=1&since=2", "until"}, Case{"recipient=nobody", "recipient"},
        Case{"sender=a@", "sender"}, Case{"cursor=abc", "cursor"}, Case{"colour=red", "colour"},
        Case{"limit=5&limit=6", "limit"}, Case{"account=other", "account"}}) {
    const Response r = api.search(c.query, "shop");
    ASSERT_EQ(r.status, 400) << c.query;
    const auto doc = json::parse(r.body);
    EXPECT_EQ(doc.at("errors").at(0).at("path").as_string(), c.path) << c.query;
  }
  EXPECT_EQ(api.search("account=shop&status=bounced", "shop").status, 200);
  EXPECT_EQ(log.last.status, "BOUNCED");
  EXPECT_EQ(api.search("account=other", "").status, 200);  // the operator names any account
  EXPECT_EQ(log.last.account, "other");
  EXPECT_EQ(api.deliveries("", "shop", 0).status, 400);
  EXPECT_EQ(api.deliveries("since=0&until=2678400001", "shop", 0).status, 400);
}

TEST(MessageSearch, PagesWithTheCursor) {
  FakeSearch log(5);
  MessageSearchApi api(log);
  std::vector<std::string> seen;
  std::string query = "limit=2";
  for (int page = 0; page < 5; ++page) {
    const Response r = api.search(query, "shop");
    ASSERT_EQ(r.status, 200) << r.body;
    const auto doc = json::parse(r.body).as_object();
    for (const auto& m : doc.at("messages").as_array()) {
      seen.emplace_back(m.at("mailId").as_string());
    }
    if (doc.at("nextCursor").is_null()) {
      break;
    }
    query = "limit=2&cursor=" + std::string(doc.at("nextCursor").as_string());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"job#5", "job#4", "job#3", "job#2", "job#1"}));
}

TEST(MessageSearch, StreamsTheReportAPageAtATime) {
  FakeSearch log(2500);
  MessageSearchApi api(log);
  Response r = api.deliveries("since=0", "shop", 5'000'000);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(r.stream);
  EXPECT_EQ(log.calls, 0);  // nothing read before the first piece is asked for
  std::vector<std::string> pieces;
  for (int i = 0; i < 10; ++i) {
    auto piece = r.stream();
    ASSERT_TRUE(piece);
    if (piece->empty()) {
      break;
    }
    EXPECT_EQ(log.last.limit, 1000U);  // a page per piece, never the whole report
    pieces.push_back(*piece);
  }
  ASSERT_EQ(pieces.size(), 3U);
  EXPECT_TRUE(pieces[0].starts_with("mail_id,job_id,account,recipient,sender,status,"));
  std::size_t lines = 0;
  for (const auto& p : pieces) {
    lines += static_cast<std::size_t>(std::count(p.begin(), p.end(), '\n'));
  }
  EXPECT_EQ(lines, 1U + 2500U + 1U);  // the header, each row, the reply's own line break
  EXPECT_NE(pieces[0].find("\"550 \"\"no\"\", said\r\nthe host\""), std::string::npos);
}

}  // namespace
}  // namespace txmail::api
