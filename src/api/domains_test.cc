#include "api/domains.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "store/sqlite_config_store.h"
#include "tenancy/account.h"

namespace txmail::api {
namespace {

namespace json = boost::json;

class DomainsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path()
            / ("txmail-api-" + std::to_string(::getpid()) + "-"
               + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    std::filesystem::remove(path_);
    auto s = store::SqliteConfigStore::open(path_.string());
    ASSERT_TRUE(s);
    store_ = std::move(*s);
    for (const char* name : {"acme", "other"}) {
      tenancy::Account a;
      a.name = name;
      a.password_hash = "x";
      ASSERT_TRUE(
          store_->put(tenancy::account_key(name), tenancy::to_json(a), store::Expect::any()));
    }
    tenancy::DomainSettings settings;
    settings.service_zone = "svc.test";
    service_ = std::make_unique<tenancy::DomainService>(
        *store_, settings, [] { return tenancy::MasterKey::parse(std::string(64, '1')); });
    api_ = std::make_unique<DomainsApi>(
        *service_,
        [this](const std::vector<std::string>& names)
            -> Result<std::map<std::string, std::vector<std::string>>> {
          if (dns_down_) {
            return make_error(ErrorCode::kDnsTemporary, "SERVFAIL");
          }
          std::map<std::string, std::vector<std::string>> out;
          for (const auto& n : names) {
            out[n] = zone_[n];
          }
          return out;
        });
  }

  void TearDown() override {
    api_.reset();
    service_.reset();
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix);
    }
  }

  Response call(const std::string& method, const std::string& path, const std::string& account,
                const std::string& body = "") {
    Request req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.account = account;
    auto r = api_->handle(req);
    EXPECT_TRUE(r.has_value()) << path;
    return r.value_or(Response{});
  }

  static json::object parse(const Response& r) { return json::parse(r.body).as_object(); }

  std::filesystem::path path_;
  std::unique_ptr<store::SqliteConfigStore> store_;
  std::unique_ptr<tenancy::DomainService> service_;
  std::unique_ptr<DomainsApi> api_;
  std::map<std::string, std::vector<std::string>> zone_;
  bool dns_down_ = false;
};

TEST_F(DomainsApiTest, AddListAndTenantIsolation) {
  auto r = call("POST", "/v2/domains", "acme", R"({"domain": "Shop.Example"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(parse(r).at("name").as_string(), "shop.example");
  EXPECT_EQ(r.body.find("sealed"), std::string::npos);
  EXPECT_EQ(r.body.find("PRIVATE"), std::string::npos);
  r = call("POST", "/v2/domains", "other", R"({"domain": "shop.example"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.content_type, "application/problem+json");
  EXPECT_EQ(
      call("POST", "/v2/domains", "acme", R"({"domain": "x.example", "account": "other"})").status,
      403);
  EXPECT_EQ(call("POST", "/v2/domains", "", R"({"domain": "x.example"})").status, 400);
  EXPECT_EQ(
      call("POST", "/v2/domains", "", R"({"domain": "other.example", "account": "other"})").status,
      201);
  EXPECT_EQ(call("POST", "/v2/domains", "acme", R"({"domain": "not a domain"})").status, 400);
  EXPECT_EQ(call("POST", "/v2/domains", "acme", "[1,2]").status, 400);
  EXPECT_EQ(call("POST", "/v2/domains", "acme", std::string(70000, ' ')).status, 413);

  EXPECT_EQ(parse(call("GET", "/v2/domains", "acme")).at("domains").as_array().size(), 1U);
  EXPECT_EQ(parse(call("GET", "/v2/domains", "")).at("domains").as_array().size(), 2U);
  // Another tenant's domain does not exist for acme: not readable, not changeable.
  EXPECT_EQ(call("GET", "/v2/domains/other.example", "acme").status, 404);
  EXPECT_EQ(call("POST", "/v2/domains/other.example/rotate", "acme").status, 404);
  EXPECT_EQ(call("DELETE", "/v2/domains/other.example", "acme").status, 404);
  EXPECT_EQ(call("GET", "/v2/domains/other.example", "other").status, 200);
  EXPECT_EQ(call("DELETE", "/v2/domains/other.example", "").status, 204);
  EXPECT_EQ(call("GET", "/v2/domains/other.example", "").status, 404);
}

TEST_F(DomainsApiTest, VerifyRotateImportAndRoutes) {
  auto r = call("POST", "/v2/domains", "acme", R"({"domain": "shop.example"})");
  ASSERT_EQ(r.status, 201);
  const std::string record(
      parse(r).at("keys").as_array()[0].as_object().at("dns_record").as_string());
  dns_down_ = true;
  r = call("POST", "/v2/domains/shop.example/verify", "acme");
  EXPECT_EQ(r.status, 503);
  dns_down_ = false;
  zone_["shop.example"] = {"v=spf1 include:_spf.svc.test ~all"};
  zone_["txm1._domainkey.shop.example"] = {record};
  r = call("POST", "/v2/domains/shop.example/verify", "acme");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(parse(r).at("verified").as_bool());
  r = call("POST", "/v2/domains/shop.example/rotate", "acme");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(parse(r).at("keys").as_array().size(), 2U);
  EXPECT_EQ(call("POST", "/v2/domains/shop.example/rotate", "acme").status, 409);
  EXPECT_EQ(call("POST", "/v2/domains/shop.example/keys", "acme", R"({"pem": "junk"})").status,
            400);
  EXPECT_EQ(call("POST", "/v2/domains/shop.example/keys", "acme", "{}").status, 400);
  auto key = dkim::PrivateKey::generate(dkim::Algorithm::kEd25519Sha256);
  json::object body{{"pem", key->to_pem()}};
  r = call("POST", "/v2/domains/shop.example/keys", "acme", json::serialize(body));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.body.find(key->public_key_base64()), std::string::npos);
  EXPECT_EQ(call("GET", "/v2/domains/shop.example/verify", "acme").status, 405);
  EXPECT_EQ(call("PUT", "/v2/domains", "acme").status, 405);
  EXPECT_EQ(call("POST", "/v2/domains/shop.example/nothing", "acme").status, 404);
  Request other;
  other.method = "GET";
  other.path = "/v2/domainsx";
  other.account = "acme";
  EXPECT_FALSE(api_->handle(other).has_value());
  other.path = "/v2/jobs";
  EXPECT_FALSE(api_->handle(other).has_value());
}

}  // namespace
}  // namespace txmail::api
