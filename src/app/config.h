// The txmail configuration file (TOML): parsing, validation and defaults. Every key is listed
// in docs/config.md. Unknown keys and bad values are refused with one line naming the key, so a
// typo never silently falls back to a default.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"
#include "net/cidr.h"
#include "queue/delivery_options.h"
#include "queue/egress_settings.h"
#include "smtp/server/options.h"
#include "store/capture_store.h"
#include "tenancy/account.h"
#include "tenancy/sender_domain.h"
#include "tenancy/suppression.h"

namespace txmail::app {

// [[account]]: the settings in `account` (name, allow_ips, pool, ...) and the password.
struct AccountSeed {
  tenancy::Account account;
  std::string password;
};

// [[publish.endpoint]]: a name in the service's zone and the addresses behind it.
struct PublishEndpoint {
  std::string name;
  std::vector<std::string> addresses;
};

// [publish]: the service's own DNS data (txmail dns records).
struct PublishConfig {
  std::vector<std::string> nameservers;  // default: ns1.<zone>
  std::string hostmaster;                // default: hostmaster.<zone>
  std::chrono::seconds ttl = std::chrono::hours(1);
  std::vector<net::Cidr> extra_egress;  // egress addresses of other sites
  std::vector<PublishEndpoint> endpoints;
};

// [cluster]: cluster mode on NATS JetStream (docs/cluster.md); off while `nats` is empty.
struct ClusterConfig {
  std::vector<std::string> nats;      // the region's servers, this node's site first
  std::string credentials;            // a NATS creds file, or a file holding "user:password"
  std::string ca_file;                // TLS to NATS, trusting this CA
  std::string master_key_file;        // the cluster master key (`txmail cluster keygen`)
  std::string home_domain;            // JetStream domain where configuration is written
  bool refuse_on_quorum_loss = true;  // on_quorum_loss = "refuse" | "local"
  int replicas = 3;
  std::chrono::milliseconds quorum_grace = std::chrono::seconds(15);
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  // The region's data sites (a spool stream each, made by `cluster init`); default: this
  // node's site.
  std::vector<std::string> sites;
  // How long an accepted job may wait for the region to store it (then SMTP 451 / REST 503).
  std::chrono::milliseconds publish_timeout = std::chrono::seconds(10);
  // A node silent this long is dead and its spool taken over; a node delivers only while the
  // region confirmed it within half of it.
  std::chrono::milliseconds node_timeout = std::chrono::seconds(10);

  bool enabled() const { return !nats.empty(); }
};

// [[notifications.source]]: the address push notifications leave from at one site.
struct SiteAddress {
  std::string site;
  std::string address;
};

struct Config {
  // [node]
  std::string node_name = "localhost";
  std::string site = "local";
  std::string region = "local";
  std::string data_dir = "var";
  std::size_t io_threads = 0;  // 0: one per core
  std::size_t worker_threads = 2;
  // [log]
  std::string log_level = "info";
  std::string log_file;
  // [tls]
  std::string tls_cert;
  std::string tls_key;
  // [http]
  std::string http_listen = "127.0.0.1:8080";  // plain HTTP; "" for none
  std::string http_listen_tls;                 // HTTPS with the [tls] cert; "" for none
  std::string admin_token_file;                // default: <data_dir>/admin.token
  std::size_t http_max_connections = 1024;
  std::size_t http_max_connections_per_ip = 64;
  std::chrono::milliseconds http_header_timeout = std::chrono::seconds(10);
  std::vector<net::Cidr> http_trusted_proxies;
  std::size_t http_max_body = std::size_t{30} * 1024 * 1024;
  std::chrono::milliseconds http_idle_timeout = std::chrono::seconds(60);
  // [api]
  std::int64_t account_hourly_limit = 5000;  // requests per hour per account; 0: none
  std::size_t max_job_recipients = 1000;
  std::size_t max_message_bytes = std::size_t{20} * 1000 * 1000;
  std::size_t max_job_bytes = std::size_t{256} * 1024 * 1024;
  // [smtp], [[smtp.listener]]
  smtp::ServerOptions smtp;
  std::chrono::milliseconds auth_cache_ttl = std::chrono::minutes(5);
  // [[account]]
  std::vector<AccountSeed> accounts;
  // [dns]
  std::vector<std::string> dns_servers;  // "IP:PORT"; empty: the system resolver
  // [delivery], [[delivery.route]], [[delivery.policy]], [[egress.source]], [[egress.pool]]
  queue::DeliveryOptions delivery;
  // [dkim]
  std::string master_key_file;  // default: <data_dir>/master.key (created on first start)
  // `txmail serve --accept-data-loss`: start although a store this node created is missing or
  // damaged (app/data_manifest.h). Not a config key.
  bool accept_data_loss = false;
  std::uint64_t min_free_space = 64ULL << 20;  // [node] min_free_space
  std::string master_key_env;                  // when set, the key comes from this variable instead
  tenancy::DomainSettings domains;
  std::chrono::milliseconds domain_verify_interval = std::chrono::minutes(10);
  // [publish]
  PublishConfig publish;
  // [suppression]
  tenancy::SuppressionSettings suppression;
  // [cluster]
  ClusterConfig cluster;
  // Every [[egress.source]] of every site, the pools and routes (delivery.sources and
  // delivery.pools hold this node's site's part): `txmail dns records` publishes every
  // source in SPF; in cluster mode this seeds the region's shared egress settings.
  queue::EgressSettings egress;
  // [notifications]
  std::string notify_source;  // source_address, or this site's [[notifications.source]]
  std::vector<SiteAddress> notify_sources;  // every site's
  bool notify_allow_private = false;
  std::vector<std::chrono::milliseconds> notify_retry_schedule;  // empty: the default
  std::size_t notify_per_endpoint = 4;
  std::chrono::milliseconds notify_timeout = std::chrono::seconds(10);
  // How long the reader of the event log waits after a look that found no new events.
  std::chrono::milliseconds notify_read_interval = std::chrono::milliseconds(100);
  std::size_t deferred_every = 0;  // 0: only a recipient's first deferral is an event
  // [events]
  std::chrono::milliseconds event_retention = std::chrono::hours(24 * 45);
  // [sandbox]: the capture store of sandbox accounts (store/capture_store.h)
  store::CaptureLimits sandbox;
  // [bounces]
  std::string bounce_domain;     // the return path's domain (A-label); "": the job's own sender
  std::string feedback_address;  // where feedback loops send complaints (lower case); "": none
  // The public base of the one-click unsubscribe links ("https://mail.example.com", no
  // trailing '/'): <unsubscribe_url>/u/<token>; "": txmail hosts no unsubscribe.
  std::string unsubscribe_url;
  std::size_t kept_messages = 100;  // unreadable inbound messages kept (0: none), and their bytes
  std::uint64_t kept_bytes = 10ULL << 20;
};

// Errors are kConfig with detail "<key>: <what is wrong>".
Result<Config> load_config(const std::string& path);
Result<Config> parse_config(std::string_view text);

// The master key named by [dkim]: master_key_env when set, else master_key_file (created with
// a random key, mode 0600, when it does not exist yet).
Result<tenancy::MasterKey> load_master_key(const Config& config);

// "IP:PORT" or "[IPv6]:PORT".
Result<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view s);

}  // namespace txmail::app
