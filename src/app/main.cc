// txmail: the one binary. `serve` runs the node; the other commands inspect or administer it.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "app/cluster_command.h"
#include "app/config.h"
#include "app/dns_command.h"
#include "app/events_command.h"
#include "app/inbound_command.h"
#include "app/search_command.h"
#include "app/serve.h"
#include "app/spool_command.h"
#include "app/zone_command.h"
#include "cli/admin_commands.h"
#include "cli/domain_commands.h"
#include "net/tls_context.h"

namespace {

// Loads the config or exits 2 with one line naming the bad key (DESIGN.md section 10).
txmail::app::Config config_or_exit(const std::string& path) {
  auto config = txmail::app::load_config(path);
  if (!config) {
    fmt::print(stderr, "txmail: config {}: {}\n", path, config.error().detail);
    std::exit(2);
  }
  return std::move(*config);
}

// Where the administration commands find the API and its admin token: --api and --token (or
// TXMAIL_API, TXMAIL_TOKEN, TXMAIL_API_KEY); missing ones come from the config file, when one
// is given or config/txmail.toml exists ([http] listen, [http] admin_token_file).
txmail::cli::ApiTarget api_target(txmail::cli::ApiTarget t, const std::string& config_path,
                                  bool config_given) {
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return v == nullptr ? std::string() : std::string(v);
  };
  if (t.url.empty()) {
    t.url = env("TXMAIL_API");
  }
  if (t.token.empty() && t.api_key.empty()) {
    t.token = env("TXMAIL_TOKEN");
    t.api_key = env("TXMAIL_API_KEY");
  }
  const bool need_config = t.url.empty() || (t.token.empty() && t.api_key.empty());
  if (need_config && (config_given || std::filesystem::exists(config_path))) {
    const auto config = config_or_exit(config_path);
    if (t.url.empty() && !config.http_listen.empty() && !config.http_listen.ends_with(":0")) {
      t.url = "http://" + config.http_listen;
    }
    if (t.url.empty()) {
      // A node listening on port 0 (tests) writes the port it got to <data_dir>/ports.
      std::ifstream ports(config.data_dir + "/ports");
      std::string kind;
      std::string scheme;
      std::string address;
      while (ports >> kind >> scheme >> address) {
        if (kind == "http" && t.url.empty()) {
          t.url = scheme;
          t.url.append("://").append(address);
        }
      }
    }
    if (t.token.empty() && t.api_key.empty()) {
      std::ifstream in(config.admin_token_file);
      std::getline(in, t.token);
    }
  }
  if (t.url.empty()) {
    t.url = "http://127.0.0.1:8080";
  }
  return t;
}

}  // namespace

namespace {

// NOLINTNEXTLINE(readability-function-size): the whole command line in one place
int run(int argc, char** argv) {
  CLI::App app{"txmail: transactional email platform"};
  app.set_version_flag("--version", std::string("txmail ") + TXMAIL_VERSION);
  app.require_subcommand(1);

  std::string config_path = "config/txmail.toml";
  // Administration over the HTTP API: where it is and who calls it.
  txmail::cli::ApiTarget target;
  target.url.clear();
  auto api_flags = [&target](CLI::App* sub) {
    sub->add_option("--api", target.url,
                    "API URL (default [http] listen, or http://127.0.0.1:8080)");
    sub->add_option("--token", target.token,
                    "Admin token (default: TXMAIL_TOKEN or [http] admin_token_file)");
    sub->add_option("--api-key", target.api_key, "An account's API key instead of the admin token");
  };
  auto* serve = app.add_subcommand("serve", "Run the txmail node");
  serve->add_option("--config", config_path, "Configuration file")->capture_default_str();
  bool accept_data_loss = false;
  serve->add_flag(
      "--accept-data-loss", accept_data_loss,
      "Start although a store this node created is missing or damaged (each loss is logged)");

  std::string check_path;
  auto* check = app.add_subcommand("check-config", "Validate a configuration file");
  check->add_option("file", check_path, "Configuration file")->required();

  auto* spool = app.add_subcommand("spool", "Inspect the spool (read-only)");
  spool->require_subcommand(1);
  std::string data_dir;
  spool->add_option("--config", config_path, "Configuration file (for node.data_dir)")
      ->capture_default_str();
  spool->add_option("--data-dir", data_dir, "Data directory (instead of --config)");
  bool with_messages = false;
  auto* list = spool->add_subcommand("list", "List spooled jobs as JSON");
  list->add_flag("--messages", with_messages, "Include each message, base64-encoded");
  std::string job_id;
  bool raw = false;
  auto* show = spool->add_subcommand("show", "Show one spooled job");
  show->add_option("job", job_id, "Job id")->required();
  show->add_flag("--raw", raw, "Print only the message bytes");

  auto* dns = app.add_subcommand(
      "dns", "Look names up as delivery does ([dns] servers or the system resolver)");
  dns->require_subcommand(1);
  std::vector<std::string> dns_servers;
  std::string dns_config;
  dns->add_option("--server", dns_servers, "DNS server IP:PORT (instead of [dns] servers)");
  dns->add_option("--config", dns_config, "Configuration file (for [dns] servers)");
  std::string record_type;
  std::string record_name;
  auto* query = dns->add_subcommand("query", "One lookup: TYPE NAME");
  query->add_option("type", record_type, "A, AAAA, MX, TXT or TLSA")->required();
  query->add_option("name", record_name, "Domain name")->required();
  std::string mx_domain;
  auto* mx = dns->add_subcommand("mx", "Where mail for DOMAIN goes, in delivery order");
  mx->add_option("domain", mx_domain, "Domain")->required();

  auto* records = dns->add_subcommand(
      "records",
      "The service's zone to publish (BIND syntax): SPF, delegated DKIM keys, endpoints");

  // Sender domains and DKIM keys, over the HTTP API (dkim verify works locally).
  txmail::cli::DomainArgs domain_args;
  bool config_given = false;
  auto* domain = app.add_subcommand("domain", "Sender domains: add, list, show, verify");
  domain->require_subcommand(1);
  api_flags(domain);
  domain->add_option("--config", config_path, "Configuration file (API URL and token)")
      ->capture_default_str()
      ->each([&config_given](const std::string&) { config_given = true; });
  domain->add_flag("--json", domain_args.json, "Print JSON");
  auto* domain_add = domain->add_subcommand("add",
                                            "Register DOMAIN for an account; prints the "
                                            "DNS records to publish");
  domain_add->add_option("domain", domain_args.domain, "Domain")->required();
  domain_add->add_option("--account", domain_args.account, "Account name")->required();
  auto* domain_list = domain->add_subcommand("list", "Registered domains");
  domain_list->add_option("--account", domain_args.account, "Only this account's");
  auto* domain_show = domain->add_subcommand("show", "One domain, its keys and records");
  domain_show->add_option("domain", domain_args.domain, "Domain")->required();
  auto* domain_verify = domain->add_subcommand(
      "verify", "Look the domain's records up in DNS; activates keys whose record is in place");
  domain_verify->add_option("domain", domain_args.domain, "Domain")->required();
  auto* dkim = app.add_subcommand("dkim", "DKIM keys: rotate, import, verify");
  dkim->require_subcommand(1);
  api_flags(dkim);
  dkim->add_option("--config", config_path,
                   "Configuration file (API URL and token; DNS for verify)")
      ->capture_default_str()
      ->each([&config_given](const std::string&) { config_given = true; });
  dkim->add_flag("--json", domain_args.json, "Print JSON");
  auto* dkim_rotate = dkim->add_subcommand("rotate", "New pending keys for DOMAIN");
  dkim_rotate->add_option("domain", domain_args.domain, "Domain")->required();
  auto* dkim_import = dkim->add_subcommand("import", "Import a PEM private key for DOMAIN");
  dkim_import->add_option("domain", domain_args.domain, "Domain")->required();
  dkim_import->add_option("--key", domain_args.key_file, "PEM file (RSA 2048+ or Ed25519)")
      ->required();
  std::string verify_file;
  auto* dkim_verify = dkim->add_subcommand("verify", "Verify the DKIM signatures of a message");
  dkim_verify->add_option("file", verify_file, "Message file")->required();
  // "txmail domain add X --config F --json": the parent's options after the child's arguments.
  for (auto* sub : {domain_add, domain_list, domain_show, domain_verify, dkim_rotate, dkim_import,
                    dkim_verify, records, list, show, query, mx}) {
    sub->fallthrough();
  }

  auto* cluster =
      app.add_subcommand("cluster", "Cluster mode: the region's key, buckets and state");
  cluster->require_subcommand(1);
  std::string keygen_path;
  bool dry_run = false;
  bool cluster_json = false;
  auto* cluster_keygen =
      cluster->add_subcommand("keygen", "Write a new cluster master key to FILE");
  cluster_keygen->add_option("file", keygen_path, "Key file (must not exist)")->required();
  auto* cluster_init =
      cluster->add_subcommand("init", "Create every bucket the region needs (idempotent)");
  cluster_init->add_option("--config", config_path, "Configuration file")->capture_default_str();
  cluster_init->add_flag("--dry-run", dry_run, "Print what would be created");
  auto* cluster_status =
      cluster->add_subcommand("status", "The region's buckets, replicas and nodes");
  cluster_status->add_option("--config", config_path, "Configuration file")->capture_default_str();
  cluster_status->add_flag("--json", cluster_json, "JSON");
  std::string takeover_node;
  std::string takeover_to;
  bool takeover_force = false;
  auto* cluster_takeover = cluster->add_subcommand(
      "takeover", "Move every spool NODE owns to another node (a planned decommission)");
  cluster_takeover->add_option("node", takeover_node, "The node whose spools move")->required();
  cluster_takeover->add_option("--to", takeover_to,
                               "The node that takes them (default: this config's node)");
  cluster_takeover->add_flag("--force", takeover_force,
                             "Even while NODE heartbeats (it is fenced and stops delivering)");
  cluster_takeover->add_option("--config", config_path, "Configuration file")
      ->capture_default_str();
  bool resume = false;
  auto* drain = app.add_subcommand("drain", "Stop intake on a node while it finishes deliveries");
  drain->add_flag("--resume", resume, "Take traffic again");
  api_flags(drain);
  std::string drain_config = config_path;
  drain->add_option("--config", drain_config, "Configuration file (for the API URL and token)");
  drain->add_flag("--json", cluster_json, "Print the API's JSON answer");

  auto* events = app.add_subcommand(
      "events", "Events of a job or of a recipient from the event log (JSON lines)");
  std::string events_job;
  std::string events_recipient;
  auto* events_job_opt = events->add_option("--job", events_job, "Job id");
  events
      ->add_option("--recipient", events_recipient,
                   "Recipient address (its domain as a U-label or an A-label)")
      ->excludes(events_job_opt);
  events->add_option("--config", config_path, "Configuration file (for node.data_dir)")
      ->capture_default_str();
  events->add_option("--data-dir", data_dir, "Data directory (instead of --config)");

  // What the inbound listener could not read, kept under <data_dir>/inbound-kept.
  auto* inbound = app.add_subcommand("inbound", "Inbound messages kept for inspection");
  inbound->require_subcommand(1);
  auto* inbound_list = inbound->add_subcommand("list", "Kept messages as JSON, oldest first");
  std::string kept_id;
  auto* inbound_show = inbound->add_subcommand("show", "Print one kept message as it came");
  inbound_show->add_option("id", kept_id, "Id (from list)")->required();
  inbound->add_option("--config", config_path, "Configuration file (for node.data_dir)")
      ->capture_default_str();
  inbound->add_option("--data-dir", data_dir, "Data directory (instead of --config)");
  inbound_list->fallthrough();  // --config and --data-dir after the subcommand too
  inbound_show->fallthrough();

  // Message search and the deliveries report, from the event log's file (as the operator).
  auto* messages = app.add_subcommand("messages", "Messages from the event log");
  messages->require_subcommand(1);
  auto* search =
      messages->add_subcommand("search", "Find messages (JSON, newest first; as GET /v2/messages)");
  auto* report = app.add_subcommand("report", "Reports from the event log");
  report->require_subcommand(1);
  auto* deliveries = report->add_subcommand(
      "deliveries", "One CSV row per message on stdout (as GET /v2/reports/deliveries.csv)");
  std::map<std::string, std::string> search_args;
  for (const char* name :
       {"recipient", "sender", "status", "since", "until", "limit", "cursor", "account"}) {
    search->add_option(std::string("--") + name, search_args[name]);
  }
  std::map<std::string, std::string> report_args;
  deliveries->add_option("--since", report_args["since"], "RFC 3339 time or unix ms")->required();
  deliveries->add_option("--until", report_args["until"], "RFC 3339 time or unix ms (now)");
  deliveries->add_option("--account", report_args["account"], "One account's messages only");
  for (auto* sub : {search, deliveries}) {
    sub->add_option("--config", config_path, "Configuration file (for node.data_dir)")
        ->capture_default_str();
    sub->add_option("--data-dir", data_dir, "Data directory (instead of --config)");
  }

  txmail::cli::AccountArgs account_args;
  txmail::cli::SendArgs send_args;
  std::string api_config = config_path;
  auto api_options = [&](CLI::App* sub) {
    api_flags(sub);
    sub->add_option("--config", api_config, "Configuration file (for the API URL and token)");
    sub->add_flag("--json", account_args.json, "Print the API's JSON answer");
  };
  auto* account = app.add_subcommand("account", "Accounts (over the HTTP API, admin token)");
  account->require_subcommand(1);
  api_options(account);
  auto* account_create =
      account->add_subcommand("create", "Create an account; prints its API key once");
  account_create->add_option("name", account_args.name, "Account name")->required();
  account_create->add_option("--password", account_args.password,
                             "SMTP/API password (default: generated)");
  account_create->add_option("--allow-ip", account_args.allow_ips,
                             "CIDR that may relay without AUTH");
  account_create->add_option("--api-allow-ip", account_args.api_allow_ips,
                             "CIDR the REST API is limited to");
  account_create->add_option("--pool", account_args.pool, "Egress pool");
  account_create->add_option("--hourly-limit", account_args.hourly_limit,
                             "Requests an hour (0: none)");
  account_create->add_flag("--allow-unverified-domains", account_args.allow_unverified_domains,
                           "Send from unverified domains (testing)");
  account_create->add_flag("--sandbox", account_args.sandbox,
                           "Capture mail instead of sending it (GET /v2/sandbox/messages)");
  account_create->add_flag("--unsubscribe", account_args.unsubscribe,
                           "Host one-click unsubscribe links in its REST jobs' mail");
  auto* account_list = account->add_subcommand("list", "Every account");
  auto* account_show = account->add_subcommand("show", "One account");
  account_show->add_option("name", account_args.name, "Account name")->required();
  auto* account_disable = account->add_subcommand("disable", "Refuse the account's credentials");
  account_disable->add_option("name", account_args.name, "Account name")->required();
  auto* account_enable =
      account->add_subcommand("enable", "Accept the account's credentials again");
  account_enable->add_option("name", account_args.name, "Account name")->required();
  auto* account_delete =
      account->add_subcommand("delete", "Delete the account, its keys and domains");
  account_delete->add_option("name", account_args.name, "Account name")->required();

  auto* key = app.add_subcommand("key", "API keys of an account (over the HTTP API)");
  key->require_subcommand(1);
  api_options(key);
  auto* key_create = key->add_subcommand("create", "A new API key, printed once");
  key_create->add_option("--account", account_args.name, "Account")->required();
  key_create->add_option("--name", account_args.key_name, "What the key is for");
  auto* key_list = key->add_subcommand("list", "The account's keys (ids only)");
  key_list->add_option("--account", account_args.name, "Account")->required();
  auto* key_revoke = key->add_subcommand("revoke", "Revoke a key by id");
  key_revoke->add_option("--account", account_args.name, "Account")->required();
  key_revoke->add_option("id", account_args.key_id, "Key id")->required();

  auto* send = app.add_subcommand("send", "Send a test message through POST /v2/jobs");
  api_options(send);
  send->add_option("--account", target.account, "Send as this account (with the admin token)");
  send->add_option("--from", send_args.from, "Sender")->required();
  send->add_option("--to", send_args.to, "Recipient (repeatable)")->required();
  send->add_option("--cc", send_args.cc, "Cc recipient (repeatable)");
  send->add_option("--bcc", send_args.bcc, "Bcc recipient (repeatable)");
  send->add_option("--subject", send_args.subject, "Subject")->required();
  send->add_option("--text", send_args.text, "Plain text body");
  send->add_option("--html", send_args.html, "HTML body");
  send->add_option("--attach", send_args.attach, "File to attach (repeatable)");
  txmail::cli::SuppressionArgs suppression_args;
  auto* suppression = app.add_subcommand("suppression", "The suppression list (over the HTTP API)");
  suppression->require_subcommand(1);
  api_options(suppression);
  suppression->add_option("--account", target.account, "The account's list (with the admin token)");
  auto* suppression_list = suppression->add_subcommand("list", "Suppressed addresses, in order");
  suppression_list->add_option("--after", suppression_args.after,
                               "Start after this address (paging)");
  suppression_list->add_option("--limit", suppression_args.limit, "At most this many (1-1000)");
  auto* suppression_add = suppression->add_subcommand("add", "Suppress an address");
  suppression_add->add_option("email", suppression_args.email, "Address")->required();
  suppression_add->add_option("--type", suppression_args.type,
                              "PREVIOUSLY_BOUNCED or TEMPORARY_SUPPRESSED");
  suppression_add->add_option("--reason", suppression_args.reason, "Why");
  auto* suppression_remove =
      suppression->add_subcommand("remove", "Make an address deliverable again");
  suppression_remove->add_option("email", suppression_args.email, "Address")->required();
  txmail::cli::QueueArgs queue_args;
  auto* queue = app.add_subcommand("queue", "This node's delivery queues (over the HTTP API)");
  queue->require_subcommand(1);
  api_options(queue);
  auto* queue_list =
      queue->add_subcommand("list", "Destination sites, the schedule by domain, pauses");
  auto* queue_pause = queue->add_subcommand("pause", "Hold the mail of a site or a domain");
  auto* queue_resume = queue->add_subcommand("resume", "End a pause: the held mail is due now");
  auto* queue_retry = queue->add_subcommand("retry", "End a back-off: the waiting mail is due now");
  for (auto* sub : {queue_pause, queue_resume, queue_retry}) {
    auto* site = sub->add_option("--site", queue_args.site, "Destination site (as list shows it)");
    sub->add_option("--domain", queue_args.domain, "Recipient domain")->excludes(site);
  }
  queue_pause->add_option("--until", queue_args.until, "RFC 3339 time (default: until resumed)");
  for (auto* sub :
       {account_create, account_list, account_show, account_disable, account_enable, account_delete,
        key_create, key_list, key_revoke, suppression_list, suppression_add, suppression_remove,
        queue_list, queue_pause, queue_resume, queue_retry}) {
    sub->fallthrough();
  }

  CLI11_PARSE(app, argc, argv);

  if (account->parsed() || key->parsed() || send->parsed() || suppression->parsed()
      || queue->parsed()) {
    const auto t = api_target(target, api_config, api_config != config_path);
    if (queue->parsed()) {
      queue_args.json = account_args.json;
      if (queue_list->parsed()) {
        return txmail::cli::queue_list(t, queue_args);
      }
      return txmail::cli::queue_action(t,
                                       queue_pause->parsed()    ? "pause"
                                       : queue_resume->parsed() ? "resume"
                                                                : "retry",
                                       queue_args);
    }
    if (suppression->parsed()) {
      suppression_args.json = account_args.json;
      return suppression_list->parsed()  ? txmail::cli::suppression_list(t, suppression_args)
             : suppression_add->parsed() ? txmail::cli::suppression_add(t, suppression_args)
                                         : txmail::cli::suppression_remove(t, suppression_args);
    }
    if (send->parsed()) {
      if (send_args.text.empty() && send_args.html.empty()) {
        fmt::print(stderr, "txmail: send needs --text or --html\n");
        return 2;
      }
      send_args.json = account_args.json;
      return txmail::cli::send(t, send_args);
    }
    if (account_create->parsed()) {
      return txmail::cli::account_create(t, account_args);
    }
    if (account_list->parsed()) {
      return txmail::cli::account_list(t, account_args);
    }
    if (account_show->parsed()) {
      return txmail::cli::account_show(t, account_args);
    }
    if (account_disable->parsed() || account_enable->parsed()) {
      return txmail::cli::account_set_disabled(t, account_args, account_disable->parsed());
    }
    if (account_delete->parsed()) {
      return txmail::cli::account_delete(t, account_args);
    }
    if (key_create->parsed()) {
      return txmail::cli::key_create(t, account_args);
    }
    if (key_list->parsed()) {
      return txmail::cli::key_list(t, account_args);
    }
    return txmail::cli::key_revoke(t, account_args);
  }

  if (cluster->parsed()) {
    if (cluster_keygen->parsed()) {
      return txmail::app::cluster_keygen(keygen_path);
    }
    const auto config = config_or_exit(config_path);
    if (cluster_takeover->parsed()) {
      return txmail::app::cluster_takeover(config, takeover_node, takeover_to, takeover_force);
    }
    return cluster_init->parsed() ? txmail::app::cluster_init(config, dry_run)
                                  : txmail::app::cluster_status(config, cluster_json);
  }
  if (drain->parsed()) {
    return txmail::cli::drain(api_target(target, drain_config, drain_config != config_path), resume,
                              cluster_json);
  }
  if (serve->parsed()) {
    auto config = config_or_exit(config_path);
    config.accept_data_loss = accept_data_loss;
    return txmail::app::serve(config);
  }
  if (check->parsed()) {
    const auto config = config_or_exit(check_path);
    if (auto tls =
            txmail::net::make_server_tls({config.tls_cert, config.tls_key, config.node_name});
        !tls) {
      fmt::print(stderr, "txmail: config {}: {}\n", check_path, tls.error().detail);
      return 2;
    }
    fmt::print("{}: ok ({} listeners, {} accounts)\n", check_path, config.smtp.listeners.size(),
               config.accounts.size());
    return 0;
  }
  if (records->parsed()) {
    return txmail::app::dns_records(config_or_exit(dns_config.empty() ? config_path : dns_config));
  }
  if (dkim_verify->parsed()) {
    return txmail::app::dkim_verify(config_or_exit(config_path), verify_file, domain_args.json);
  }
  if (domain->parsed() || dkim->parsed()) {
    const auto t = api_target(target, config_path, config_given);
    if (domain_add->parsed()) {
      return txmail::cli::domain_add(t, domain_args);
    }
    if (domain_list->parsed()) {
      return txmail::cli::domain_list(t, domain_args);
    }
    if (domain_show->parsed()) {
      return txmail::cli::domain_show(t, domain_args);
    }
    if (domain_verify->parsed()) {
      return txmail::cli::domain_verify(t, domain_args);
    }
    if (dkim_rotate->parsed()) {
      return txmail::cli::dkim_rotate(t, domain_args);
    }
    return txmail::cli::dkim_import(t, domain_args);
  }
  if (dns->parsed()) {
    if (dns_servers.empty() && !dns_config.empty()) {
      dns_servers = config_or_exit(dns_config).dns_servers;
    }
    return query->parsed() ? txmail::app::dns_query(dns_servers, record_type, record_name)
                           : txmail::app::dns_mx(dns_servers, mx_domain);
  }
  if (data_dir.empty()) {
    data_dir = config_or_exit(config_path).data_dir;
  }
  if (events->parsed()) {
    if (events_job.empty() == events_recipient.empty()) {
      fmt::print(stderr, "txmail events: give --job or --recipient\n");
      return 2;
    }
    return events_recipient.empty() ? txmail::app::events_for_job(data_dir, events_job)
                                    : txmail::app::events_for_recipient(data_dir, events_recipient);
  }
  if (inbound->parsed()) {
    return inbound_list->parsed() ? txmail::app::inbound_list(data_dir)
                                  : txmail::app::inbound_show(data_dir, kept_id);
  }
  if (search->parsed() || deliveries->parsed()) {
    const auto& args = search->parsed() ? search_args : report_args;
    const txmail::app::SearchParams params(args.begin(), args.end());
    return search->parsed() ? txmail::app::messages_search(data_dir, params)
                            : txmail::app::report_deliveries(data_dir, params);
  }
  if (list->parsed()) {
    return txmail::app::spool_list(data_dir, with_messages);
  }
  return txmail::app::spool_show(data_dir, job_id, raw);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {  // a command's failure is its own: one line, status 1
    std::fprintf(stderr, "txmail: %s\n", e.what());
    return 1;
  }
}
