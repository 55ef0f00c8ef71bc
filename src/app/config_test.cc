#include "app/config.h"

#include <gtest/gtest.h>

namespace txmail::app {
namespace {

const std::string kClusterNode = "[node]\nname = \"n1\"\nsite = \"a\"\nregion = \"r1\"\n";
const std::string kClusterKeys =
    "[cluster]\nnats = [\"nats://127.0.0.1:4222\"]\nmaster_key_file = \"/k\"\n";

TEST(Config, EmptyConfigGivesDefaults) {
  auto c = parse_config("");
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->data_dir, "var");
  EXPECT_EQ(c->smtp.max_message_size, 20U << 20);
  EXPECT_EQ(c->admin_token_file, "var/admin.token");
  EXPECT_EQ(c->notify_read_interval, std::chrono::milliseconds(100));
  auto read_every = parse_config("[notifications]\nread_interval = \"3s\"\n");
  ASSERT_TRUE(read_every) << read_every.error().detail;
  EXPECT_EQ(read_every->notify_read_interval, std::chrono::seconds(3));
}

TEST(Config, ReadsListenersAndAccounts) {
  auto c = parse_config(R"(
[node]
name = "mx1.example.net"
data_dir = "/tmp/x"
[[smtp.listener]]
address = "127.0.0.1:0"
mode = "relay"
[[smtp.listener]]
address = "[::1]:2525"
[smtp]
max_recipients = 5
command_timeout = "2s"
max_message_size = "1MB"
[[account]]
name = "acme"
password = "long enough"
allow_ips = ["127.0.0.2/32"]
)");
  ASSERT_TRUE(c) << c.error().detail;
  ASSERT_EQ(c->smtp.listeners.size(), 2U);
  EXPECT_EQ(c->smtp.listeners[0].mode, smtp::ListenerMode::kRelay);
  EXPECT_EQ(c->smtp.listeners[0].port, 0);
  EXPECT_EQ(c->smtp.listeners[1].address, "::1");
  EXPECT_EQ(c->smtp.listeners[1].mode, smtp::ListenerMode::kSubmission);
  EXPECT_EQ(c->smtp.max_recipients, 5U);
  EXPECT_EQ(c->smtp.command_timeout.count(), 2000);
  EXPECT_EQ(c->smtp.max_message_size, 1U << 20);
  EXPECT_EQ(c->smtp.hostname, "mx1.example.net");
  ASSERT_EQ(c->accounts.size(), 1U);
  EXPECT_TRUE(c->accounts[0].account.allow_ips[0].contains("127.0.0.2"));
}

TEST(Config, ReadsBouncesAndComplaints) {
  auto c = parse_config(
      "[bounces]\ndomain = \"Bounces.Example\"\nfeedback_address = \"FBL@Bounces.Example\"\n"
      "kept_messages = 5\nkept_bytes = \"64KB\"\n"
      "unsubscribe_url = \"https://mail.example:8443/base/\"\n[suppression]\ncomplaint_ttl = "
      "\"30d\"\n"
      "unsubscribe_ttl = \"400d\"\n");
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->bounce_domain, "bounces.example");
  EXPECT_EQ(c->feedback_address, "fbl@bounces.example");
  EXPECT_EQ(c->kept_messages, 5U);
  EXPECT_EQ(c->kept_bytes, 64U << 10);
  EXPECT_EQ(c->suppression.complaint, std::chrono::hours(24 * 30));
  EXPECT_EQ(c->unsubscribe_url, "https://mail.example:8443/base");
  EXPECT_EQ(c->suppression.unsubscribe, std::chrono::hours(24 * 400));
  auto d = parse_config("");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->suppression.complaint, std::chrono::hours(24 * 365));
  EXPECT_EQ(d->kept_messages, 100U);
  EXPECT_EQ(d->suppression.unsubscribe, std::chrono::hours(24 * 3650));
  EXPECT_TRUE(d->unsubscribe_url.empty());
}

TEST(Config, ErrorsNameTheKey) {
  struct Case {
    std::string text;
    const char* key;
  };

  const Case cases[] = {
      {"[smtp]\nmax_recipent = 5\n", "smtp.max_recipent: unknown key"},
      {"[smtp]\nmax_recipients = \"5\"\n", "smtp.max_recipients: must be an integer"},
      {"[smtp]\nmax_recipients = 0\n", "smtp.max_recipients: must be between"},
      {"[smtp]\ncommand_timeout = \"5 minutes\"\n", "smtp.command_timeout:"},
      {"[[smtp.listener]]\naddress = \"localhost:25\"\n", "smtp.listener[0].address:"},
      {"[[smtp.listener]]\naddress = \"127.0.0.1:25\"\nmode = \"open\"\n",
       "smtp.listener[0].mode:"},
      {"[[smtp.listener]]\nmode = \"relay\"\n", "smtp.listener[0].address: is required"},
      {"[[account]]\nname = \"a\"\npassword = \"short\"\n", "account[0].password:"},
      {"[[account]]\nname = \"a\"\npassword = \"longenough\"\nallow_ips = [\"nope\"]\n",
       "account[0].allow_ips:"},
      {"[tls]\ncert = \"/x.pem\"\n", "tls.key:"},
      {"[log]\nlevel = \"loud\"\n", "log.level:"},
      {"[suppression]\ncomplaint_ttl = \"forever\"\n", "suppression.complaint_ttl:"},
      {"[suppression]\nunsubscribe_ttl = \"forever\"\n", "suppression.unsubscribe_ttl:"},
      {"[bounces]\nunsubscribe_url = \"https://m.example\"\n",
       "bounces.unsubscribe_url: needs bounces.domain"},
      {"[bounces]\ndomain = \"b.example\"\nunsubscribe_url = \"http://m.example\"\n",
       "bounces.unsubscribe_url:"},
      {"[bounces]\ndomain = \"b.example\"\nunsubscribe_url = \"https://m.example/?a=1\"\n",
       "bounces.unsubscribe_url:"},
      {"[bounces]\ndomain = \"b.example\"\nunsubscribe_url = \"https://:80/\"\n",
       "bounces.unsubscribe_url:"},
      {"[bounces]\nfeedback_address = \"fbl@b.example\"\n",
       "bounces.feedback_address: needs bounces.domain"},
      {"[bounces]\ndomain = \"b.example\"\nfeedback_address = \"fbl\"\n",
       "bounces.feedback_address:"},
      {"[bounces]\ndomain = \"b.example\"\nkept_messages = -1\n", "bounces.kept_messages:"},
      {"[bounces]\ndomain = \"b.example\"\nkept_bytes = \"lots\"\n", "bounces.kept_bytes:"},
      {"[node\n", "line 1:"},
      {"surprise = 1\n", "surprise: unknown key"},
      {"[smtp]\ninflow_delay = \"2m\"\n", "smtp.inflow_delay:"},
      {"[smtp]\ninflow_backlog = 0\n", "smtp.inflow_backlog:"},
      {"[dkim]\nrsa_bits = 1024\n", "dkim.rsa_bits: must be between"},
      {"[dkim]\nrotation_grace = \"soon\"\n", "dkim.rotation_grace:"},
      {"[publish]\nzone = \"not a zone\"\n", "publish.zone:"},
      {"[publish]\nextra_egress = [\"300.1.1.1\"]\n", "publish.extra_egress:"},
      {"[[publish.endpoint]]\nname = \"smtp.eu\"\naddresses = [\"nope\"]\n",
       "publish.endpoint[0].addresses:"},
      {"[[account]]\nname = \"a\"\npassword = \"longenough\"\nallow_unverified_domains = 1\n",
       "account[0].allow_unverified_domains:"},
      {"[[account]]\nname = \"a\"\npassword = \"longenough\"\nsandbox = \"yes\"\n",
       "account[0].sandbox:"},
      {"[notifications]\nread_interval = \"5ms\"\n",
       "notifications.read_interval: must be at least"},
      {"[notifications]\nread_interval = \"2m\"\n",
       "notifications.read_interval: must be at least"},
      {"[notifications]\nread_interval = \"soon\"\n", "notifications.read_interval:"},
      {"[sandbox]\nmax_messages = 0\n", "sandbox.max_messages: must be between"},
      {"[sandbox]\nmax_bytes = 10\n", "sandbox.max_bytes: must be between"},
      {"[sandbox]\nmax_message = 10\n", "sandbox.max_message"},
      // Cluster mode (docs/cluster.md).
      {kClusterNode + "[cluster]\nmaster_key_file = \"/k\"\n", "cluster.nats: is required"},
      {kClusterNode + "[cluster]\nnats = [\"127.0.0.1:4222\"]\nmaster_key_file = \"/k\"\n",
       "cluster.nats:"},
      {kClusterNode + "[cluster]\nnats = [\"nats://127.0.0.1:4222\"]\n",
       "cluster.master_key_file:"},
      {kClusterNode + kClusterKeys + "on_quorum_loss = \"panic\"\n", "cluster.on_quorum_loss:"},
      {kClusterNode + kClusterKeys + "replicas = 7\n", "cluster.replicas:"},
      {kClusterNode + kClusterKeys + "quorum_grace = \"soon\"\n", "cluster.quorum_grace:"},
      {kClusterNode + kClusterKeys + "home_domain = \"a.b\"\n", "cluster.home_domain:"},
      {kClusterNode + kClusterKeys + "sites = [\"b\", \"c\"]\n", "cluster.sites:"},
      {kClusterNode + kClusterKeys + "sites = [\"a\", \"a\"]\n", "cluster.sites:"},
      {kClusterNode + kClusterKeys + "sites = [\"a\", \"b.c\"]\n", "cluster.sites:"},
      {kClusterNode + kClusterKeys + "publish_timeout = \"90s\"\n", "cluster.publish_timeout:"},
      {kClusterNode + kClusterKeys + "node_timeout = \"1s\"\n", "cluster.node_timeout:"},
      {kClusterNode + kClusterKeys + "publish_timeout = \"500ms\"\n", "cluster.publish_timeout:"},
      {kClusterNode + kClusterKeys + "credentials = \"/nonexistent/creds\"\n",
       "cluster.credentials:"},
      {"[node]\nname = \"n1\"\nregion = \"r1\"\n" + kClusterKeys, "node.site:"},
      {"[node]\nname = \"n1\"\nsite = \"a\"\n" + kClusterKeys, "node.region:"},
      {"[node]\nsite = \"a\"\nregion = \"r1\"\n" + kClusterKeys, "node.name:"},
      {kClusterNode + kClusterKeys + "[dkim]\nmaster_key_file = \"/m\"\n", "dkim.master_key_file:"},
      {kClusterNode + "[[egress.source]]\nname = \"x\"\nsite = \"b\"\n", "egress.source:"},
      {kClusterNode
           + "[[egress.source]]\nname = \"x\"\nsite = \"a\"\n[[egress.source]]\nname = \"y\"\nsite "
             "= \"b\"\n"
             "[[egress.pool]]\nname = \"p\"\nsources = [\"y\"]\n",
       "egress.pool:"},
      {"[[notifications.source]]\nsite = \"a\"\naddress = \"nope\"\n",
       "notifications.source[0].address:"},
  };
  for (const auto& c : cases) {
    auto r = parse_config(c.text);
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().code, ErrorCode::kConfig);
    EXPECT_TRUE(r.error().detail.starts_with(c.key)) << c.text << " -> " << r.error().detail;
    EXPECT_EQ(r.error().detail.find('\n'), std::string::npos) << r.error().detail;
  }
}

TEST(Config, ClusterMode) {
  auto c = parse_config(kClusterNode + kClusterKeys + "quorum_grace = \"20s\"\non_quorum_loss = \"local\"\n"
                        "[[egress.source]]\nname = \"a1\"\naddress = \"192.0.2.1\"\nsite = \"a\"\n"
                        "[[egress.source]]\nname = \"b1\"\naddress = \"192.0.2.2\"\nsite = \"b\"\n"
                        "[[egress.pool]]\nname = \"default\"\nsources = [\"a1\", \"b1\"]\n"
                        "[[notifications.source]]\nsite = \"a\"\naddress = \"192.0.2.9\"\n"
                        "[[notifications.source]]\nsite = \"b\"\naddress = \"192.0.2.10\"\n");
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_TRUE(c->cluster.enabled());
  EXPECT_EQ(c->cluster.quorum_grace, std::chrono::seconds(20));
  EXPECT_FALSE(c->cluster.refuse_on_quorum_loss);
  EXPECT_EQ(c->cluster.sites, std::vector<std::string>{"a"}) << "default: this node's site";
  EXPECT_EQ(c->cluster.publish_timeout, std::chrono::seconds(10));
  EXPECT_EQ(c->cluster.node_timeout, std::chrono::seconds(10));
  // This node (site a) sends from site a's source only; every site's are published.
  ASSERT_EQ(c->delivery.sources.size(), 1U);
  EXPECT_EQ(c->delivery.sources[0].name, "a1");
  EXPECT_EQ(c->delivery.pools.at("default"), std::vector<std::string>{"a1"});
  EXPECT_EQ(c->egress.sources.size(), 2U);
  EXPECT_EQ(c->egress.pools.at("default").size(), 2U);
  EXPECT_EQ(c->notify_source, "192.0.2.9");
  EXPECT_EQ(c->notify_sources.size(), 2U);
  auto embedded = parse_config("");
  ASSERT_TRUE(embedded);
  EXPECT_FALSE(embedded->cluster.enabled());
  auto sites = parse_config(kClusterNode + kClusterKeys
                            + "sites = [\"b\", \"a\"]\npublish_timeout = \"20s\"\n");
  ASSERT_TRUE(sites) << sites.error().detail;
  EXPECT_EQ(sites->cluster.sites, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(sites->cluster.publish_timeout, std::chrono::seconds(20));
}

TEST(Config, InflowAndDkimSettings) {
  auto c = parse_config(
      "[smtp]\ninflow_delay = \"0s\"\ninflow_backlog = 50\n[dkim]\ned25519 = true\nrsa_bits = "
      "3072\n"
      "master_key_env = \"K\"\n[publish]\nzone = \"Mail.Example.\"\n");
  ASSERT_TRUE(c) << c.error().detail;
  EXPECT_EQ(c->smtp.inflow_delay.count(), 0);
  EXPECT_EQ(c->smtp.inflow_backlog, 50U);
  EXPECT_TRUE(c->domains.ed25519);
  EXPECT_EQ(c->domains.rsa_bits, 3072);
  EXPECT_EQ(c->master_key_env, "K");
  EXPECT_EQ(c->domains.service_zone, "mail.example");
  auto d = parse_config("");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->master_key_file, "var/master.key");
  EXPECT_EQ(d->domains.service_zone, "txmail.invalid");
}

TEST(Config, DesignContractKeysAreKnown) {
  auto c = parse_config(R"(
[node]
site = "fra1"
region = "eu"
[http]
listen = "127.0.0.1:8080"
admin_token_file = "/tmp/token"
[dns]
servers = ["127.0.0.1:5353"]
[[delivery.route]]
domain = "*"
relay = "127.0.0.1:2526"
[[egress.source]]
name = "a"
address = "127.0.0.1"
ehlo = "out.example"
[[egress.pool]]
name = "default"
sources = ["a"]
[notifications]
source_address = "127.0.0.1"
allow_private_targets = true
)");
  ASSERT_TRUE(c) << c.error().detail;
}

}  // namespace
}  // namespace txmail::app
