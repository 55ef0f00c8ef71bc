#include <gtest/gtest.h>

#include "dns/caching_resolver.h"
#include "dns/fake_resolver.h"
#include "dns/mx.h"
#include "dns/rdata.h"

namespace txmail::dns {
namespace {

template <typename T>
T run(awaitable<T> op) {
  asio::io_context io;
  std::optional<T> out;
  asio::co_spawn(io, std::move(op), [&](const std::exception_ptr& e, T v) {
    if (e) {
      std::rethrow_exception(e);
    }
    out = std::move(v);
  });
  io.run();
  return std::move(*out);
}

Answer mx_answer(std::vector<MxRecord> mx, int ttl = 300) {
  Answer a;
  a.mx = std::move(mx);
  a.ttl = std::chrono::seconds(ttl);
  return a;
}

TEST(Rdata, Decoders) {
  EXPECT_EQ(decode_a(std::string("\x7f\x00\x00\x05", 4)), "127.0.0.5");
  EXPECT_FALSE(decode_a("abc"));
  EXPECT_EQ(decode_aaaa(std::string(15, '\0') + "\x01"), "::1");
  auto mx =
      decode_mx(std::string("\x00\x0a\x02mx\x07"
                            "Example\x04test\x00",
                            19));
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->preference, 10);
  EXPECT_EQ(mx->exchange, "mx.example.test");
  auto null_mx = decode_mx(std::string("\x00\x00\x00", 3));
  ASSERT_TRUE(null_mx);
  EXPECT_EQ(null_mx->exchange, "");
  EXPECT_FALSE(decode_mx(std::string("\x00\x0a\x05mx", 5)));    // label runs past the end
  EXPECT_FALSE(decode_mx(std::string("\x00\x0a\xc0\x0c", 4)));  // a compression pointer
  // A label holding a dot has no text form: "Ex.mple" would read as two labels, and a label
  // "." would turn an MX host into the null MX (found by fuzz/dns_rdata).
  EXPECT_FALSE(
      decode_mx(std::string("\x00\x0a\x02mx\x07"
                            "Ex.mple\x03"
                            "com\x00",
                            18)));
  EXPECT_FALSE(decode_mx(std::string("\x00\x0a\x01.\x00", 5)));
  EXPECT_EQ(decode_txt(std::string("\x05v=spf\x0a"
                                   "1 -all    ",
                                   17)),
            "v=spf1 -all    ");
  EXPECT_FALSE(decode_txt(std::string("\x09short", 6)));
  auto tlsa = decode_tlsa(std::string("\x03\x01\x01\xab\xcd", 5));
  ASSERT_TRUE(tlsa);
  EXPECT_EQ(tlsa->usage, 3);
  EXPECT_EQ(tlsa->data, "\xab\xcd");
}

TEST(Mx, SortedByPreferenceShuffledWithinEqual) {
  const Answer a = mx_answer({{20, "c.test"}, {10, "a.test"}, {10, "b.test"}, {30, "d.test"}});
  std::set<std::string> firsts;
  std::uint64_t seed = 0;
  for (int i = 0; i < 64; ++i) {
    auto plan = plan_mx("example.test", a, [&] { return seed++ * 0x9e3779b97f4a7c15ULL; });
    ASSERT_TRUE(plan);
    ASSERT_EQ(plan->hosts.size(), 4U);
    EXPECT_EQ(plan->hosts[2], "c.test");
    EXPECT_EQ(plan->hosts[3], "d.test");
    firsts.insert(plan->hosts[0]);
    EXPECT_FALSE(plan->implicit);
  }
  EXPECT_EQ(firsts, (std::set<std::string>{"a.test", "b.test"}));  // both come first sometimes
}

TEST(Mx, ImplicitAndNull) {
  auto implicit = plan_mx("Example.TEST.", mx_answer({}), [] { return 0; });
  ASSERT_TRUE(implicit);
  EXPECT_TRUE(implicit->implicit);
  EXPECT_EQ(implicit->hosts, std::vector<std::string>{"example.test"});
  auto null_mx = plan_mx("nomail.test", mx_answer({{0, ""}}), [] { return 0; });
  ASSERT_FALSE(null_mx);
  EXPECT_EQ(null_mx.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(classify(null_mx.error().code).persistence, Persistence::kPermanent);
  // A null MX mixed with real ones is ignored (RFC 7505 says it must stand alone).
  auto mixed = plan_mx("odd.test", mx_answer({{0, ""}, {10, "mx.odd.test"}}), [] { return 0; });
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->hosts, std::vector<std::string>{"mx.odd.test"});
}

TEST(Mx, SiteIsTheSetOfHosts) {
  MxPlan one{{"b.test", "a.test"}, false, {}};
  MxPlan two{{"a.test", "b.test"}, false, {}};
  EXPECT_EQ(one.site(), two.site());
  EXPECT_EQ(one.site(), "a.test,b.test");
}

TEST(Mx, ResolveThroughResolver) {
  FakeResolver fake;
  fake.set("example.test", RecordType::kMx, mx_answer({{10, "mx.example.test"}}));
  fake.set("mx.example.test", RecordType::kA,
           Answer{{"127.0.0.10"}, {}, {}, std::chrono::seconds(60), false});
  fake.set("mx.example.test", RecordType::kAaaa, Answer{});
  fake.set("flaky.test", RecordType::kMx, make_error(ErrorCode::kDnsTemporary, "SERVFAIL"));
  auto plan = run(resolve_mx(fake, "example.test"));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->hosts, std::vector<std::string>{"mx.example.test"});
  auto addrs = run(resolve_addresses(fake, "mx.example.test"));
  ASSERT_TRUE(addrs);
  EXPECT_EQ(*addrs, std::vector<std::string>{"127.0.0.10"});
  auto gone = run(resolve_mx(fake, "missing.test"));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  auto flaky = run(resolve_mx(fake, "flaky.test"));
  ASSERT_FALSE(flaky);
  EXPECT_EQ(classify(flaky.error().code).persistence, Persistence::kTransient);
  auto no_addr = run(resolve_addresses(fake, "missing.test"));
  ASSERT_FALSE(no_addr);
  EXPECT_EQ(no_addr.error().code, ErrorCode::kNotFound);
}

// A U-label never reaches DNS: names are looked up (and planned) by their A-label.
TEST(Mx, InternationalizedDomainIsLookedUpByItsALabel) {
  EXPECT_EQ(normalize_name("B\xc3\x9c"
                           "cher.Test."),
            "xn--bcher-kva.test");
  EXPECT_EQ(normalize_name("*"), "*");
  FakeResolver fake;
  fake.set("xn--bcher-kva.test", RecordType::kMx, mx_answer({{10, "mx.xn--bcher-kva.test"}}));
  auto plan = run(resolve_mx(fake,
                             "b\xc3\xbc"
                             "cher.test"));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->hosts, std::vector<std::string>{"mx.xn--bcher-kva.test"});
  EXPECT_EQ(fake.queries("xn--bcher-kva.test", RecordType::kMx), 1);
}

TEST(Cache, HonoursTtlAndCachesNegativeAnswers) {
  FakeResolver fake;
  fake.set("a.test", RecordType::kA,
           Answer{{"127.0.0.1"}, {}, {}, std::chrono::seconds(60), false});
  fake.set("t.test", RecordType::kTxt, make_error(ErrorCode::kDnsTemporary, "SERVFAIL"));
  auto now = CachingResolver::Clock::time_point{} + std::chrono::hours(1);
  CachingResolver cache(fake, CacheOptions{}, [&] { return now; });

  ASSERT_TRUE(run(cache.query("a.test", RecordType::kA)));
  auto hit = run(cache.query("A.test.", RecordType::kA));
  ASSERT_TRUE(hit);
  EXPECT_EQ(fake.queries("a.test", RecordType::kA), 1);
  now += std::chrono::seconds(30);
  hit = run(cache.query("a.test", RecordType::kA));
  EXPECT_EQ(hit->ttl, std::chrono::seconds(30));  // the remaining TTL
  EXPECT_EQ(fake.queries("a.test", RecordType::kA), 1);
  now += std::chrono::seconds(31);
  ASSERT_TRUE(run(cache.query("a.test", RecordType::kA)));
  EXPECT_EQ(fake.queries("a.test", RecordType::kA), 2);  // expired: asked again

  EXPECT_FALSE(run(cache.query("nx.test", RecordType::kA)));
  EXPECT_FALSE(run(cache.query("nx.test", RecordType::kA)));
  EXPECT_EQ(fake.queries("nx.test", RecordType::kA), 1);  // NXDOMAIN cached
  now += std::chrono::seconds(301);
  EXPECT_FALSE(run(cache.query("nx.test", RecordType::kA)));
  EXPECT_EQ(fake.queries("nx.test", RecordType::kA), 2);

  EXPECT_FALSE(run(cache.query("t.test", RecordType::kTxt)));
  EXPECT_FALSE(run(cache.query("t.test", RecordType::kTxt)));
  EXPECT_EQ(fake.queries("t.test", RecordType::kTxt), 2);  // temporary failures are not cached
}

TEST(Cache, StaysBounded) {
  FakeResolver fake;
  CacheOptions options;
  options.max_entries = 10;
  CachingResolver cache(fake, options);
  for (int i = 0; i < 100; ++i) {
    // Only the cache's size counts here, not the answers.
    (void)run(cache.query("n" + std::to_string(i) + ".test", RecordType::kA));
  }
  EXPECT_LE(cache.size(), 10U);
}

}  // namespace
}  // namespace txmail::dns
