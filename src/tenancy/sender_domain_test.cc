#include "tenancy/sender_domain.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "dkim/signature.h"
#include "store/sqlite_config_store.h"
#include "tenancy/dkim_keyring.h"

namespace txmail::tenancy {
namespace {

MasterKey test_master(char fill = 'a') {
  auto key = MasterKey::parse(std::string(64, fill));
  EXPECT_TRUE(key.has_value());
  return *key;
}

// A DNS zone as a map from name to TXT records.
struct FakeZone {
  std::map<std::string, std::vector<std::string>> txt;
  bool failing = false;

  TxtLookup lookup() {
    return [this](const std::string& name) -> Result<std::vector<std::string>> {
      if (failing) {
        return make_error(ErrorCode::kDnsTemporary, "SERVFAIL");
      }
      const auto it = txt.find(name);
      return it == txt.end() ? std::vector<std::string>{} : it->second;
    };
  }
};

const DnsCheck& check(const SenderDomain& d, const std::string& name) {
  for (const auto& c : d.checks) {
    if (c.name == name) {
      return c;
    }
  }
  static const DnsCheck kNone;
  ADD_FAILURE() << "no check for " << name;
  return kNone;
}

TEST(MasterKey, SealsWithContextAndRefusesTheWrongKey) {
  const MasterKey key = test_master();
  const std::string sealed = key.seal("secret pem", "dkim:example.com:txm1");
  EXPECT_EQ(sealed.find("secret"), std::string::npos);
  EXPECT_EQ(*key.open(sealed, "dkim:example.com:txm1"), "secret pem");
  EXPECT_FALSE(key.open(sealed, "dkim:example.org:txm1").has_value());
  EXPECT_FALSE(test_master('b').open(sealed, "dkim:example.com:txm1").has_value());
  std::string tampered = sealed;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(key.open(tampered, "dkim:example.com:txm1").has_value());
  EXPECT_FALSE(MasterKey::parse("too short").has_value());
}

TEST(SenderDomain, NamesAreNormalizedOrRefused) {
  EXPECT_EQ(*normalize_domain("Example.COM."), "example.com");
  for (const char* bad : {"", "localhost", "-a.com", "a..com", "a_b.com", "exa mple.com"}) {
    EXPECT_FALSE(normalize_domain(bad).has_value()) << bad;
  }
}

TEST(SenderDomain, LifecycleFromPendingToVerifiedToRotated) {
  DomainSettings settings;
  settings.service_zone = "mail.test";
  settings.ed25519 = true;
  settings.rotation_grace = std::chrono::hours(1);
  const MasterKey master = test_master();
  auto created = create_domain("Shop.Example", "acme", settings, master, 1000);
  ASSERT_TRUE(created) << created.error().detail;
  SenderDomain d = *created;
  ASSERT_EQ(d.keys.size(), 2U);
  EXPECT_EQ(d.keys[0].selector, "txm1");
  EXPECT_EQ(d.keys[1].selector, "txm1e");
  EXPECT_EQ(check(d, "shop.example").value, "v=spf1 include:_spf.mail.test ~all");
  EXPECT_EQ(check(d, "txm1._domainkey.shop.example").alternative_cname,
            "txm1.shop.example._dkim.mail.test");
  // The private key is sealed: the JSON holds no PEM.
  const std::string stored = to_json(d);
  EXPECT_EQ(stored.find("PRIVATE KEY"), std::string::npos);
  auto back = domain_from_json(stored);
  ASSERT_TRUE(back);
  EXPECT_EQ(to_json(*back), stored);

  FakeZone zone;
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 2000));
  EXPECT_FALSE(d.verified);
  EXPECT_EQ(check(d, "shop.example").status, "missing");
  EXPECT_EQ(check(d, "txm1._domainkey.shop.example").status, "missing");

  zone.txt["shop.example"] = {"v=spf1 ip4:192.0.2.1 ~all"};
  zone.txt["txm1._domainkey.shop.example"] = {"v=DKIM1; k=rsa; p=MIIBwrong"};
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 3000));
  EXPECT_EQ(check(d, "shop.example").status, "wrong");
  EXPECT_EQ(check(d, "txm1._domainkey.shop.example").status, "wrong");
  EXPECT_FALSE(d.verified);

  zone.txt["shop.example"] = {"google-site-verification=x",
                              "v=spf1 ip4:192.0.2.1 include:_spf.mail.test ~all"};
  zone.txt["txm1._domainkey.shop.example"] = {d.keys[0].dns_record};
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 4000));
  EXPECT_TRUE(d.verified);
  EXPECT_EQ(d.keys[0].state, KeyState::kActive);
  EXPECT_EQ(d.keys[1].state, KeyState::kPending);  // its record is not there yet
  EXPECT_EQ(check(d, "_dmarc.shop.example").status, "missing");

  // A temporary DNS failure concludes nothing.
  zone.failing = true;
  EXPECT_FALSE(verify_domain(d, settings, zone.lookup(), 4500));
  zone.failing = false;

  // Rotation: a pending key in the second slot, while the first still signs.
  EXPECT_FALSE(rotate_keys(d, settings, master, 5000));  // Ed25519 is still pending
  zone.txt["txm1e._domainkey.shop.example"] = {d.keys[1].dns_record};
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 5500));
  ASSERT_TRUE(rotate_keys(d, settings, master, 6000));
  ASSERT_EQ(d.keys.size(), 4U);
  EXPECT_EQ(d.keys[2].selector, "txm2");
  EXPECT_EQ(signing_keys(d)[0]->selector, "txm1");
  zone.txt["txm2._domainkey.shop.example"] = {d.keys[2].dns_record};
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 7000));
  EXPECT_EQ(d.keys[0].state, KeyState::kRetired);
  EXPECT_EQ(d.keys[2].state, KeyState::kActive);
  EXPECT_EQ(signing_keys(d)[0]->selector, "txm2");
  EXPECT_TRUE(d.verified);
  // Slot 1 is held until the grace period ends, then freed.
  EXPECT_FALSE(rotate_keys(d, settings, master, 8000));
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 7000 + 3'600'000));
  EXPECT_EQ(d.keys.size(), 3U);
}

TEST(SenderDomain, TheReturnPathSubdomainIsUsedOnceItsMxAndSpfAreInPlace) {
  DomainSettings settings;
  settings.service_zone = "mail.test";
  settings.bounce_mx = "inbound.mail.test";
  auto created = create_domain("shop.example", "acme", settings, test_master(), 1000);
  ASSERT_TRUE(created) << created.error().detail;
  SenderDomain d = *created;
  const std::string mx_key = std::string(kMxQuery) + "bounce.shop.example";
  const auto names = names_to_verify(d, settings);
  EXPECT_NE(std::find(names.begin(), names.end(), mx_key), names.end());

  FakeZone zone;  // the sender domain itself verified
  zone.txt["shop.example"] = {"v=spf1 include:_spf.mail.test ~all"};
  zone.txt["txm1._domainkey.shop.example"] = {d.keys[0].dns_record};
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 2000));
  EXPECT_TRUE(d.verified);
  EXPECT_FALSE(d.return_path);
  EXPECT_EQ(check(d, "bounce.shop.example").status, "missing");

  zone.txt[mx_key] = {"mx.elsewhere.example"};
  zone.txt["bounce.shop.example"] = {"v=spf1 include:_spf.mail.test ~all"};
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 3000));
  EXPECT_FALSE(d.return_path) << "an MX pointing elsewhere";

  zone.txt[mx_key] = {"mx.elsewhere.example", "Inbound.Mail.Test."};
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 4000));
  EXPECT_TRUE(d.return_path);
  EXPECT_TRUE(domain_from_json(to_json(d))->return_path);

  zone.txt["bounce.shop.example"] = {};  // the SPF record removed
  ASSERT_TRUE(verify_domain(d, settings, zone.lookup(), 5000));
  EXPECT_FALSE(d.return_path);

  settings.bounce_mx.clear();  // not offered: no records to publish, never used
  const auto records = records_to_publish(d, settings);
  EXPECT_TRUE(std::none_of(records.begin(), records.end(),
                           [](const DnsCheck& c) { return c.name == "bounce.shop.example"; }));
}

TEST(SenderDomain, ImportRefusesWeakKeys) {
  DomainSettings settings;
  const MasterKey master = test_master();
  auto d = create_domain("example.org", "acme", settings, master, 1);
  ASSERT_TRUE(d);
  EXPECT_FALSE(import_key(*d, "not a key", master, 2));
  auto ed = dkim::PrivateKey::generate(dkim::Algorithm::kEd25519Sha256);
  ASSERT_TRUE(import_key(*d, ed->to_pem(), master, 2));
  EXPECT_EQ(d->keys.back().selector, "txm1e");
  EXPECT_EQ(d->keys.back().public_key, ed->public_key_base64());
  // An imported RSA key replaces the pending generated one, in its slot.
  auto rsa = dkim::PrivateKey::generate(dkim::Algorithm::kRsaSha256, 3072);
  ASSERT_TRUE(import_key(*d, rsa->to_pem(), master, 3));
  ASSERT_EQ(d->keys.size(), 2U);
  EXPECT_EQ(d->keys.back().selector, "txm1");
  EXPECT_EQ(d->keys.back().public_key, rsa->public_key_base64());
}

TEST(DkimKeyring, UnsealsAndFollowsTheStore) {
  const auto path = std::filesystem::temp_directory_path()
                    / ("txmail-keyring-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(path);
  auto store = store::SqliteConfigStore::open(path.string());
  ASSERT_TRUE(store);
  DomainSettings settings;
  const MasterKey master = test_master();
  auto ring = DkimKeyring::load(**store, master);
  ASSERT_TRUE(ring);
  EXPECT_EQ((*ring)->find("example.net"), nullptr);
  auto d = create_domain("example.net", "acme", settings, master, 1);
  ASSERT_TRUE((*store)->put(domain_key(d->name), to_json(*d), store::Expect::absent()));
  auto signing = (*ring)->find("example.net");
  ASSERT_NE(signing, nullptr);
  EXPECT_EQ(signing->account, "acme");
  ASSERT_EQ(signing->keys.size(), 1U);
  // The unsealed key signs, and its signature verifies against the published record.
  const std::string message = "From: a@example.net\r\nSubject: x\r\n\r\nhello\r\n";
  auto fields = dkim::sign(message, signing->keys);
  ASSERT_TRUE(fields);
  auto verdicts = dkim::verify(*fields + message, [&](const std::string& name) {
    return name == "txm1._domainkey.example.net" ? d->keys[0].dns_record : std::string();
  });
  ASSERT_EQ(verdicts.size(), 1U);
  EXPECT_TRUE(verdicts[0].ok) << verdicts[0].reason;
  ASSERT_TRUE((*store)->erase(domain_key(d->name), store::Expect::any()));
  EXPECT_EQ((*ring)->find("example.net"), nullptr);
  ring->reset();
  store->reset();
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(path.string() + suffix);
  }
}

}  // namespace
}  // namespace txmail::tenancy
