#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "common/base64.h"
#include "dkim/canon.h"
#include "dkim/key.h"
#include "dkim/signature.h"

namespace txmail::dkim {
namespace {

// RFC 6376 section 3.4.5, with <SP>, <HTAB> and <CRLF> written out.
constexpr std::string_view kExampleHeaders = "A: X\r\nB : Y\t\r\n\tZ  \r\n";
constexpr std::string_view kExampleBody = " C \r\nD \t E\r\n\r\n\r\n";

TEST(Canon, Rfc6376RelaxedHeaders) {
  std::string out;
  for (const auto& f : header_fields(kExampleHeaders)) {
    canonicalize_header(Canon::kRelaxed, f.raw, out);
  }
  EXPECT_EQ(out, "a:X\r\nb:Y Z\r\n");
}

TEST(Canon, Rfc6376RelaxedBody) {
  EXPECT_EQ(canonicalize_body(Canon::kRelaxed, kExampleBody), " C\r\nD E\r\n");
}

TEST(Canon, Rfc6376SimpleHeaders) {
  std::string out;
  for (const auto& f : header_fields(kExampleHeaders)) {
    canonicalize_header(Canon::kSimple, f.raw, out);
  }
  EXPECT_EQ(out, kExampleHeaders);
}

TEST(Canon, Rfc6376SimpleBody) {
  EXPECT_EQ(canonicalize_body(Canon::kSimple, kExampleBody), " C \r\nD \t E\r\n");
}

TEST(Canon, EmptyAndUnterminatedBodies) {
  EXPECT_EQ(canonicalize_body(Canon::kSimple, ""), "\r\n");
  EXPECT_EQ(canonicalize_body(Canon::kRelaxed, ""), "");
  EXPECT_EQ(canonicalize_body(Canon::kRelaxed, "\r\n\r\n"), "");
  EXPECT_EQ(canonicalize_body(Canon::kSimple, "\r\n\r\n"), "\r\n");
  EXPECT_EQ(canonicalize_body(Canon::kSimple, "abc"), "abc\r\n");
  EXPECT_EQ(canonicalize_body(Canon::kRelaxed, "a  b \t"), "a b\r\n");
  EXPECT_EQ(canonicalize_body(Canon::kRelaxed, "a\r\n\r\nb\r\n\r\n"), "a\r\n\r\nb\r\n");
}

TEST(Canon, BodyHashStreamsWhatCanonicalizeReturns) {
  std::string big;
  for (int i = 0; i < 5000; ++i) {
    big += "line " + std::to_string(i) + " \t with  space   \r\n";
    if (i % 7 == 0) {
      big += "\r\n";
    }
  }
  for (Canon c : {Canon::kSimple, Canon::kRelaxed}) {
    const std::string canonical = canonicalize_body(c, big);
    Digest expected{};
    unsigned int n = 0;
    EVP_Digest(canonical.data(), canonical.size(), expected.data(), &n, EVP_sha256(), nullptr);
    EXPECT_EQ(body_hash(c, big), expected);
  }
}

TEST(Tags, ParsesAndRefuses) {
  const auto tags = parse_tags(" v=1; a = rsa-sha256 ;\r\n\tb=ab\r\n cd; ");
  ASSERT_TRUE(tags.has_value());
  EXPECT_EQ(tag(*tags, "a").value_or(""), "rsa-sha256");
  EXPECT_EQ(strip_whitespace(tag(*tags, "b").value_or("")), "abcd");
  EXPECT_FALSE(parse_tags("v=1; v=2").has_value());
  EXPECT_FALSE(parse_tags("v=1; junk").has_value());
}

// RFC 8463 appendix A: the Ed25519 key of RFC 8032 section 7.1 and the signed example.
constexpr std::string_view kRfc8463Message =
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";
constexpr std::string_view kRfc8463Signature =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n";
constexpr std::string_view kRfc8032Seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr std::string_view kRfc8032Public = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

std::string rfc8463_lookup(const std::string& name) {
  return name == "brisbane._domainkey.football.example.com"
             ? "v=DKIM1; k=ed25519; p=" + std::string(kRfc8032Public)
             : std::string();
}

TEST(Rfc8463, SignsTheExampleExactly) {
  std::string seed;
  ASSERT_TRUE(base64_decode(kRfc8032Seed, seed));
  auto key = PrivateKey::ed25519_from_seed(seed);
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->public_key_base64(), kRfc8032Public);
  // The body hash, then the signature over the example's own field with b= emptied: Ed25519
  // is deterministic, so it must be the example's b= to the bit.
  const auto parts = split_message(kRfc8463Message);
  const Digest bh = body_hash(Canon::kRelaxed, parts.body);
  EXPECT_EQ(base64_encode(std::string_view(reinterpret_cast<const char*>(bh.data()), bh.size())),
            "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
  std::string field(kRfc8463Signature);
  const std::size_t b = field.find(" b=");
  field = field.substr(0, b + 3);
  const std::vector<std::string> names = {"from",       "to",   "subject", "date",
                                          "message-id", "from", "subject", "date"};
  auto signature = key->sign(signed_data(parts.headers, names, Canon::kRelaxed, field));
  ASSERT_TRUE(signature.has_value());
  EXPECT_EQ(
      base64_encode(*signature),
      "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==");
}

TEST(Rfc8463, VerifiesTheExampleAndCatchesChanges) {
  const std::string signed_message = std::string(kRfc8463Signature) + std::string(kRfc8463Message);
  auto verdicts = verify(signed_message, rfc8463_lookup);
  ASSERT_EQ(verdicts.size(), 1U);
  EXPECT_TRUE(verdicts[0].ok) << verdicts[0].reason;
  std::string changed = signed_message;
  changed.replace(changed.find("hungry"), 6, "thirst");
  verdicts = verify(changed, rfc8463_lookup);
  ASSERT_EQ(verdicts.size(), 1U);
  EXPECT_FALSE(verdicts[0].ok);
  EXPECT_EQ(verdicts[0].reason, "body hash mismatch");
  changed = signed_message;
  changed.replace(changed.find("dinner"), 6, "supper");
  verdicts = verify(changed, rfc8463_lookup);
  EXPECT_FALSE(verdicts.at(0).ok);
  EXPECT_EQ(verdicts[0].reason, "signature does not verify");
}

TEST(Keys, RefusesShortRsaAndRoundTripsPem) {
  EXPECT_FALSE(PrivateKey::generate(Algorithm::kRsaSha256, 1024).has_value());
  auto key = PrivateKey::generate(Algorithm::kEd25519Sha256);
  ASSERT_TRUE(key.has_value());
  auto back = PrivateKey::from_pem(key->to_pem());
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->public_key_base64(), key->public_key_base64());
  EXPECT_EQ(back->algorithm(), Algorithm::kEd25519Sha256);
  EXPECT_FALSE(
      PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
          .has_value());
}

TEST(Signer, RsaAndEd25519SignaturesVerifyAndFromIsOversigned) {
  auto rsa = PrivateKey::generate(Algorithm::kRsaSha256);
  auto ed = PrivateKey::generate(Algorithm::kEd25519Sha256);
  ASSERT_TRUE(rsa && ed);
  const std::string message =
      "From: a@example.com\r\nTo: b@example.net\r\nSubject: a long subject\r\n"
      " folded onto a second line\r\nX-Other: not signed\r\n\r\nbody  \r\n\r\n";
  const std::vector<SigningKey> keys = {{"example.com", "s1", *rsa}, {"example.com", "s2", *ed}};
  for (Canon hc : {Canon::kSimple, Canon::kRelaxed}) {
    for (Canon bc : {Canon::kSimple, Canon::kRelaxed}) {
      auto fields = sign(message, keys, SignOptions{hc, bc, 1700000000});
      ASSERT_TRUE(fields.has_value());
      const std::string signed_message = *fields + message;
      auto lookup = [&](const std::string& name) {
        return name == "s1._domainkey.example.com"   ? rsa->dns_record()
               : name == "s2._domainkey.example.com" ? ed->dns_record()
                                                     : std::string();
      };
      auto verdicts = verify(signed_message, lookup);
      ASSERT_EQ(verdicts.size(), 2U);
      EXPECT_TRUE(verdicts[0].ok && verdicts[1].ok) << verdicts[0].reason << verdicts[1].reason;
      EXPECT_NE(fields->find("h=from:from:to:subject"), std::string::npos) << *fields;
      // A second From added on the way breaks both; an unsigned header does not.
      verdicts = verify("From: evil@example.org\r\n" + signed_message, lookup);
      EXPECT_FALSE(verdicts[0].ok || verdicts[1].ok);
      verdicts = verify("X-Added: fine\r\n" + signed_message, lookup);
      EXPECT_TRUE(verdicts[0].ok && verdicts[1].ok);
    }
  }
}

}  // namespace
}  // namespace txmail::dkim
