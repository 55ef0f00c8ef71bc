#include "app/serve.h"

#include <sys/stat.h>

#include <fmt/format.h>
#include <malloc.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>

#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"
#include "dns/caching_resolver.h"
#include "dns/unbound_resolver.h"
#include "events/sqlite_event_log.h"
#include "mime/headers.h"
#include "net/io_pool.h"
#include "net/tls_context.h"
#include "queue/delivery_engine.h"
#include "smtp/server/server.h"
#include "store/rocks_spool.h"
#include "tenancy/account_directory.h"
#include "tenancy/authenticator.h"
#include "tenancy/dkim_keyring.h"
#include "tenancy/domain_service.h"
#include "api/domains.h"
#include "api/http_server.h"
#include "api/jobs.h"
#include "api/service.h"
#include "api/status.h"
#include "api/webhooks.h"
#include "events/webhooks.h"
#include "app/data_manifest.h"
#include "app/domain_command.h"
#include "app/domain_verifier.h"
#include "app/metrics.h"
#include "app/readiness.h"
#include "app/stores.h"
#include "tenancy/rate_limiter.h"
#include "tenancy/suppression.h"

namespace txmail::app {

namespace {

events::Event to_event(const queue::Outcome& o) {
  using K = queue::Outcome::Kind;
  const events::Kind kind = o.kind == K::kDelivered     ? events::Kind::kDelivered
                            : o.kind == K::kDeferred    ? events::Kind::kDeferred
                            : o.kind == K::kBouncedHard ? events::Kind::kBouncedHard
                                                        : events::Kind::kBouncedSoft;
  events::Event e = events::make_event(kind);
  // A REST job of several blocks has one spool record per block; its mail ids name the job.
  const std::size_t hash = o.mail_id.find('#');
  e.job_id = hash == std::string::npos ? o.job_id : o.mail_id.substr(0, hash);
  e.mail_id = o.mail_id;
  e.account = o.account;
  e.recipient = o.recipient;
  e.sender = o.sender;
  e.attempt = o.attempt;
  e.remote_host = o.remote_host;
  e.reply = o.reply;
  e.egress = o.egress;
  e.tls = o.tls;
  return e;
}

// A hard bounce puts the address on the suppression list (on the worker pool: a store write).
void suppress_bounce(asio::thread_pool& workers, tenancy::SuppressionList& list,
                     const queue::Outcome& o) {
  auto entry = tenancy::suppression_for_bounce(o.verdict.suppression, o.reply, list.settings());
  if (!entry) {
    return;
  }
  entry->address = o.recipient;
  entry->scope = list.scope_of(o.account);
  entry->created_ms = now_ms();
  asio::post(workers, [&list, e = std::move(*entry)] {
    if (auto r = list.add(e); !r) {
      logger()->error("suppression of {} failed: {}", e.address, r.error().detail);
    } else {
      logger()->info("suppressed address={} scope={} type={} until={}", e.address, e.scope,
                     tenancy::suppression_type_name(e.type), iso8601_ms(r->expires_ms));
    }
  });
}

// Runs `work` on the worker pool every `interval` (the next wait starts when it is done) until
// the timer is cancelled: periodic store work never runs on an I/O thread.
void every(asio::steady_timer& timer, asio::thread_pool& workers, std::chrono::milliseconds interval,
           std::function<void()> work) {
  timer.expires_after(interval);
  timer.async_wait([&timer, &workers, interval, work = std::move(work)](const boost::system::error_code& ec) {
    if (ec) {
      return;
    }
    asio::post(workers, [&timer, &workers, interval, work] {
      work();
      asio::post(timer.get_executor(), [&timer, &workers, interval, work] { every(timer, workers, interval, work); });
    });
  });
}

// One line on stderr (and in the log file, when there is one); exit status 1.
int fail(const Config& config, const std::string& what) {
  if (!config.log_file.empty()) {
    logger()->critical("{}", what);
  }
  fmt::print(stderr, "txmail: {}\n", what);
  return 1;
}

// The admin token (DESIGN.md section 10): created with a random value on first start.
Result<void> ensure_admin_token(const std::string& path) {
  if (std::filesystem::exists(path)) {
    return {};
  }
  std::string raw(32, '\0');
  random_bytes(raw.data(), raw.size());
  std::ofstream out(path, std::ios::trunc);
  if (!out) {
    return make_error(ErrorCode::kIo, "cannot write http.admin_token_file '" + path + "'");
  }
  out << hex(raw) << "\n";
  out.close();
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return {};
}

Result<std::string> read_admin_token(const std::string& path) {
  std::ifstream in(path);
  std::string token;
  if (!in || !std::getline(in, token)) {
    return make_error(ErrorCode::kIo, "cannot read http.admin_token_file '" + path + "'");
  }
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
    token.pop_back();
  }
  if (token.size() < 16) {
    return make_error(ErrorCode::kConfig, "http.admin_token_file: the token is shorter than 16 characters");
  }
  return token;
}

// Rebuilds the schedule from the spool: every job goes back to delivery with its recipients'
// states (delivered ones are never sent again). Runs before the I/O threads start.
void recover(store::Spool& spool, queue::DeliveryEngine& delivery) {
  std::size_t queued = 0;
  std::size_t corrupt = 0;
  auto n = spool.scan(
      [&](store::SpoolRecord&& r) {
        for (const auto& rcpt : r.recipients) {
          queued += rcpt.status == store::RecipientStatus::kQueued ? 1 : 0;
        }
        delivery.restore(r);
        return true;
      },
      [&](const Error& e) {
        ++corrupt;
        logger()->error("spool recovery: unreadable record: {}", e.detail);
      },
      store::Spool::Messages::kEnvelopes);
  if (n) {
    logger()->info("spool recovered jobs={} recipients_queued={} unreadable={}", *n, queued,
                   corrupt);
  } else {
    logger()->error("spool recovery failed: {}", n.error().detail);
  }
}

// Tests and tools find the bound ports here (listeners may be configured with port 0).
void write_ports(const std::string& data_dir, const std::vector<tcp::endpoint>& endpoints,
                 const std::vector<smtp::ListenerOptions>& listeners,
                 const std::vector<std::pair<tcp::endpoint, bool>>& http) {
  static constexpr const char* kModes[] = {"relay", "submission", "submissions"};
  const std::string tmp = data_dir + "/ports.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      out << "smtp " << kModes[static_cast<int>(listeners[i].mode)] << " "
          << endpoints[i].address().to_string() << ":" << endpoints[i].port() << "\n";
    }
    for (const auto& [ep, is_tls] : http) {
      out << "http " << (is_tls ? "https" : "http") << " " << ep.address().to_string() << ":"
          << ep.port() << "\n";
    }
  }
  std::filesystem::rename(tmp, data_dir + "/ports");
}

// An event about one recipient of a spooled job.
events::Event recipient_event(events::Kind kind, const store::SpoolRecord& job,
                              const store::SpoolRecipient& rcpt) {
  events::Event e = events::make_event(kind);
  e.job_id = job.job_id;
  e.mail_id = rcpt.mail_id;
  e.account = job.account;
  e.recipient = rcpt.address;
  e.sender = job.sender;
  return e;
}

// glibc gives each thread that meets contention an arena of its own (up to eight per core):
// the queue's long-lived blocks then spread over many arenas, with the freed message buffers
// of intake between them. One arena per I/O thread (at least two) keeps a million queued
// recipients at about 254 bytes each instead of 285 (bench/scale.sh), at the same relay
// speed. MALLOC_ARENA_MAX in the environment still wins.
void limit_malloc_arenas(std::size_t io_threads) {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, static_cast<int>(std::max<std::size_t>(2, io_threads)));
  }
}

}  // namespace

int serve(const Config& config) {
  limit_malloc_arenas(config.io_threads);
  // Message bodies, keys and credentials are written below: files 0600, directories 0700
  // (issue harden-1), whatever the umask the node was started with.
  ::umask(0077);
  // Certificate problems are configuration errors: exit 2 before anything starts.
  auto tls = net::make_server_tls({config.tls_cert, config.tls_key, config.node_name});
  if (!tls) {
    fmt::print(stderr, "txmail: config: {}\n", tls.error().detail);
    return 2;
  }
  init_logging(config.log_level, config.log_file);
  std::error_code fs_ec;
  std::filesystem::create_directories(config.data_dir, fs_ec);
  if (fs_ec) {
    return fail(config,
                "node.data_dir: cannot create '" + config.data_dir + "': " + fs_ec.message());
  }
  std::filesystem::permissions(config.data_dir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, fs_ec);
  std::filesystem::remove(config.data_dir + "/ports", fs_ec);
  const DataStores stores{config.data_dir,
                          config.cluster.enabled()      ? config.cluster.master_key_file
                          : config.master_key_env.empty() ? config.master_key_file
                                                          : ""};
  if (auto r = check_data_dir(stores, config.accept_data_loss); !r) {
    return fail(config, r.error().detail);
  }
  // The master key first: in cluster mode a node without the cluster's key must not start.
  auto master = load_master_key(config);
  if (!master) {
    return fail(config, master.error().detail);
  }
  auto backend = ConfigBackend::open(config, true);
  if (!backend) {
    return fail(config, backend.error().detail);
  }
  store::ConfigStore* config_store = &backend->store();
  for (const auto& seed : config.accounts) {
    if (auto r = tenancy::bootstrap_account(*config_store, seed.account, seed.password); !r) {
      return fail(config, "account " + seed.account.name + ": " + r.error().detail);
    }
  }
  auto accounts = tenancy::AccountDirectory::load(*config_store);
  if (!accounts) {
    return fail(config, accounts.error().detail);
  }
  tenancy::Authenticator authenticator(**accounts, config.auth_cache_ttl);
  // The master key also seals notification endpoints (they may hold credentials) and derives
  // each account's webhook signing secret.
  auto sealer = std::make_shared<tenancy::MasterKey>(*master);
  auto seal = [sealer](const std::string& plain, const std::string& context) {
    return sealer->seal(plain, context);
  };
  auto open_sealed = [sealer](const std::string& sealed, const std::string& context) {
    return sealer->open(sealed, context);
  };
  auto webhook_secret = [sealer](const std::string& account) {
    return sealer->derive("webhook-secret:" + account);
  };
  auto keyring = tenancy::DkimKeyring::load(*config_store, std::move(*master));
  if (!keyring) {
    return fail(config, keyring.error().detail);
  }
  auto suppressions = tenancy::SuppressionList::load(*config_store, config.suppression);
  if (!suppressions) {
    return fail(config, suppressions.error().detail);
  }
  auto spool =
      store::RocksSpool::open(config.data_dir + "/spool", store::RocksSpool::Mode::kReadWrite);
  if (!spool) {
    return fail(config, spool.error().detail);
  }
  (*spool)->set_min_free_space(config.min_free_space);
  Readiness readiness(Readiness::Sources{
      .data_dir = config.data_dir,
      .min_free_space = config.min_free_space,
      .spool_accepting = [s = spool->get()] { return s->accepting(); },
      .cluster_reason = config.cluster.refuse_on_quorum_loss
                            ? std::function<std::optional<std::string>()>(
                                  [b = &*backend] { return b->unready_reason(); })
                            : nullptr});
  readiness.probe_disk();
  if (auto r = ensure_admin_token(config.admin_token_file); !r) {
    return fail(config, r.error().detail);
  }

  auto event_log = events::SqliteEventLog::open(config.data_dir + "/events.db",
                                                events::SqliteEventLog::Mode::kReadWrite);
  if (!event_log) {
    return fail(config, event_log.error().detail);
  }
  (*event_log)->set_retention(config.event_retention);
  // Every event goes through the counting wrapper (metrics) to the log.
  NodeMetrics node_metrics;
  CountingEventLog counted_events(**event_log, node_metrics);
  events::EventLog* log = &counted_events;
  auto client_tls = net::make_client_tls();
  if (!client_tls) {
    return fail(config, client_tls.error().detail);
  }

  asio::thread_pool workers(config.worker_threads);
  net::IoPool pool(config.io_threads);
  auto unbound = dns::UnboundResolver::create(
      pool.at(0).get_executor(), dns::UnboundOptions{config.dns_servers, std::chrono::seconds(15)});
  if (!unbound) {
    return fail(config, unbound.error().detail);
  }
  dns::CachingResolver resolver(**unbound, dns::CacheOptions{});
  // Delivery runs on the first io_context; outcomes go to the event log.
  queue::DeliveryEngine delivery(
      pool.at(0), config.delivery, config.node_name, **spool, resolver, workers, *client_tls,
      [&accounts](const std::string& account) {
        auto a = (*accounts)->find(account);
        return a ? a->pool : std::string();
      },
      [log, &workers, &node_metrics, list = suppressions->get(),
       every = config.deferred_every](const queue::Outcome& o) {
        // A recipient's first deferral is an event; later ones only every `every` attempts.
        const bool repeat_deferral = o.kind == queue::Outcome::Kind::kDeferred && o.attempt > 1
                                     && (every == 0 || (o.attempt - 1) % every != 0);
        if (!repeat_deferral) {
          log->append(to_event(o));
        }
        if (o.kind == queue::Outcome::Kind::kDelivered && o.received_ms > 0) {
          node_metrics.delivery_latency.record(std::chrono::milliseconds(now_ms() - o.received_ms));
        }
        if (o.kind == queue::Outcome::Kind::kBouncedHard) {
          suppress_bounce(workers, *list, o);
        }
      });
  recover(**spool, delivery);
  smtp::ServerContext smtp_ctx(config.smtp, *tls, **spool, **accounts, authenticator, workers);
  // An SMTP job is STARTED for each recipient (the status API shows it from the start), then
  // handed to delivery; the events are appended first, so they come first in the log.
  smtp_ctx.refuse_intake = [&readiness] { return readiness.intake_refusal(); };
  smtp_ctx.on_spooled = [&delivery, log](store::SpoolRecord& r) {
    for (const auto& rcpt : r.recipients) {
      log->append(recipient_event(events::Kind::kStarted, r, rcpt));
    }
    delivery.submit(r);
  };
  smtp_ctx.keyring = keyring->get();
  smtp_ctx.suppressed = [list = suppressions->get(), &workers](const std::string& account,
                                                             const std::string& address)
      -> std::optional<std::pair<std::string, std::string>> {
    if (list->forbidden(address)) {
      return std::pair<std::string, std::string>{"FORBIDDEN_RECIPIENT", "role addresses are not sent to"};
    }
    auto s = list->find(account, address, now_ms());
    if (!s) {
      return std::nullopt;
    }
    asio::post(workers, [list, entry = *s] {
      if (auto r = list->renew(entry, now_ms()); !r) {
        logger()->warn("suppression renewal of {} failed: {}", entry.address, r.error().detail);
      }
    });
    return std::pair<std::string, std::string>{"PREVIOUSLY_BOUNCED", tenancy::describe(*s)};
  };
  smtp_ctx.on_job = [log, sealer](const store::SpoolRecord& r, const mime::ControlFields& c) {
    events::JobInfo info;
    info.job_id = r.job_id;
    info.account = r.account;
    info.received_ms = r.received_ms;
    info.sender = r.sender;
    const auto froms = mime::field_values(mime::header_section(r.message), "From");
    info.mime_from = froms.empty() ? r.sender : mime::address_of(froms.front());
    info.reference_job = c.reference;
    info.campaign_id = c.campaign_id;
    info.cost_center = c.cost_center;
    if (!c.notification_url.empty()) {
      const events::Endpoint e{c.notification_url, c.notification_headers, c.auth_user, c.auth_password};
      info.endpoint_sealed = sealer->seal(events::to_json(e), "endpoint:" + r.job_id);
    }
    log->append_job(std::move(info));
  };
  smtp_ctx.on_dropped = [log](const store::SpoolRecord& r,
                                                 const store::SpoolRecipient& rcpt,
                                                 const std::string& sub_type, const std::string& why) {
    events::Event e = recipient_event(sub_type == "FORBIDDEN_RECIPIENT"
                                          ? events::Kind::kDroppedForbidden
                                          : events::Kind::kDroppedPreviouslyBounced,
                                      r, rcpt);
    e.reply = why;
    log->append(std::move(e));
  };
  tenancy::RateLimiter limiter;
  smtp_ctx.limiter = &limiter;
  smtp_ctx.default_hourly_limit = config.account_hourly_limit;
  smtp_ctx.delivery_backlog = [&delivery](const std::string& account) {
    return delivery.ready_backlog(account);
  };
  smtp_ctx.on_note = [log](const store::SpoolRecord& r, const std::string& note) {
    for (const auto& rcpt : r.recipients) {
      events::Event e = recipient_event(events::Kind::kProcessed, r, rcpt);
      e.reply = note;
      log->append(e);
    }
  };
  // Background verification of sender domains: uncached lookups (a record just published must
  // not hide behind a cached "no such name").
  tenancy::DomainService domain_service(*config_store, config.domains,
                                        [&config] { return load_master_key(config); });
  DomainVerifier verifier(pool.at(0), workers, domain_service, **unbound, config.domain_verify_interval);
  asio::steady_timer config_poll(pool.at(0));
  // Changes other processes made to the embedded config store (administration commands write
  // the same file) reach the watchers within a second; the disk is probed for /readyz.
  every(config_poll, workers, std::chrono::seconds(1), [store = config_store, &readiness,
                                                        poll = backend->needs_refresh()] {
    readiness.probe_disk();
    if (!poll) {
      return;
    }
    if (auto n = store->refresh(); !n) {
      logger()->error("config store refresh: {}", n.error().detail);
    } else if (*n > 0) {
      logger()->info("config store: {} changes from another process", *n);
    }
  });
  asio::steady_timer suppression_purge(pool.at(0));
  // Expired suppressions leave the store every ten minutes.
  every(suppression_purge, workers, std::chrono::minutes(10), [list = suppressions->get()] {
    if (auto n = list->purge(now_ms()); !n) {
      logger()->error("suppression purge: {}", n.error().detail);
    }
  });
  smtp::SmtpServer server(smtp_ctx, pool);
  if (auto r = server.bind(); !r) {
    return fail(config, r.error().detail);
  }

  // The REST API.
  auto admin_token = read_admin_token(config.admin_token_file);
  if (!admin_token) {
    return fail(config, admin_token.error().detail);
  }
  api::DomainsApi domains_api(domain_service, [&config](const std::vector<std::string>& names) {
    return lookup_txt(config, names);
  });
  api::StatusApi status_api(**event_log);
  api::WebhooksApi webhooks_api(api::WebhooksDeps{
      .config = *config_store,
      .seal = seal,
      .open = open_sealed,
      .secret_of = webhook_secret,
      .dispatcher = nullptr});
  events::WebhookOptions webhook_options;
  webhook_options.source_address = config.notify_source;
  webhook_options.allow_private_targets = config.notify_allow_private;
  webhook_options.retry_schedule = config.notify_retry_schedule;
  webhook_options.per_endpoint = config.notify_per_endpoint;
  webhook_options.timeout = config.notify_timeout;
  auto dispatcher = events::WebhookDispatcher::open(
      events::WebhookDispatcher::Deps{
          .event_log = **event_log,
          .state_db = config.data_dir + "/webhooks.db",
          .account_endpoint = [&webhooks_api](const std::string& account) {
            return webhooks_api.account_endpoint(account);
          },
          .secret_of = webhook_secret,
          .seal = seal,
          .open = open_sealed,
          .resolver = &resolver},
      webhook_options);
  if (!dispatcher) {
    return fail(config, dispatcher.error().detail);
  }
  webhooks_api.set_dispatcher(dispatcher->get());
  auto idempotency = api::IdempotencyStore::open(config.data_dir + "/idempotency.db");
  if (!idempotency) {
    return fail(config, idempotency.error().detail);
  }
  // Every store is open: the next start checks that they are all still there.
  if (auto r = record_data_dir(stores); !r) {
    return fail(config, r.error().detail);
  }

  auto jobs_api = api::make_jobs_api(api::JobsDeps{
      .accounts = **accounts,
      .keyring = keyring->get(),
      .spool = **spool,
      .events = *log,
      .idempotency = **idempotency,
      .on_spooled = [&delivery](store::SpoolRecord& r) { delivery.submit(r); },
      .suppressions = suppressions->get(),
      .hostname = config.node_name,
      .limits = api::JobLimits{config.max_job_recipients, config.max_message_bytes, 500,
                               config.max_job_bytes},
      .ack_latency = &node_metrics.rest_ack,
      .seal = seal});
  MetricsSources metrics_sources{
      .node = &node_metrics,
      .smtp_ack = &smtp_ctx.ack_latency,
      .queued_jobs = [&delivery] { return static_cast<std::uint64_t>(delivery.queued_jobs()); },
      .ready_backlog = [&delivery] { return static_cast<std::uint64_t>(delivery.ready_backlog()); },
      .ready_queues = [&delivery] { return static_cast<std::uint64_t>(delivery.ready_queues()); },
      .spool_bytes = [s = spool->get()] { return s->bytes(); },
      .suppressions = [l = suppressions->get()] { return static_cast<std::uint64_t>(l->size()); },
      .event_backlog = [l = event_log->get()] { return static_cast<std::uint64_t>(l->backlog()); },
      .webhooks = [d = dispatcher->get()] { return d->stats(); }};
  api::ApiService api_service(api::ServiceDeps{
      .config = *config_store,
      .accounts = **accounts,
      .authenticator = authenticator,
      .limiter = limiter,
      .default_hourly_limit = config.account_hourly_limit,
      .admin_token = *admin_token,
      .domains = &domains_api,
      .domain_service = &domain_service,
      .suppressions = suppressions->get(),
      .jobs = jobs_api.get(),
      .status = &status_api,
      .webhooks = &webhooks_api,
      .auth_failures = &smtp_ctx.auth_failures,
      .auth_block = std::chrono::duration_cast<std::chrono::seconds>(config.smtp.auth_failure_window),
      .unready = [&readiness] { return readiness.reason(); },
      .set_draining = [&readiness](bool on) { readiness.set_draining(on); },
      .metrics = [&metrics_sources] { return render_metrics(metrics_sources); }});
  api::HttpOptions http_options;
  if (!config.http_listen.empty()) {
    http_options.listeners.push_back({config.http_listen, false});
  }
  if (!config.http_listen_tls.empty()) {
    http_options.listeners.push_back({config.http_listen_tls, true});
  }
  http_options.max_body_bytes = config.http_max_body;
  http_options.max_connections = config.http_max_connections;
  http_options.idle_timeout = config.http_idle_timeout;
  http_options.max_connections_per_ip = config.http_max_connections_per_ip;
  http_options.header_timeout = config.http_header_timeout;
  http_options.trusted_proxies = config.http_trusted_proxies;
  api::HttpServer http(http_options, *tls, pool, workers,
                       [&api_service](api::Request r, api::HttpServer::Done done) {
                         api_service.handle(std::move(r), std::move(done));
                       });
  http.set_precheck([&api_service](const api::Request& r) { return api_service.check_credentials(r); });
  if (auto r = http.bind(); !r) {
    return fail(config, r.error().detail);
  }
  for (const auto& [ep, is_tls] : http.endpoints()) {
    logger()->info("http{} listening on {}:{}", is_tls ? "s" : "", ep.address().to_string(),
                   ep.port());
  }
  write_ports(config.data_dir, server.endpoints(), config.smtp.listeners, http.endpoints());
  for (const auto& ep : server.endpoints()) {
    logger()->info("smtp listening on {}:{}", ep.address().to_string(), ep.port());
  }

  std::promise<void> stopped;
  asio::signal_set signals(pool.at(0), SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (ec) {
      return;
    }
    logger()->info("signal {} received: stopping (grace {} ms)", signo,
                   config.smtp.shutdown_grace.count());
    // Intake first (no new jobs), then delivery (connections finish their transaction).
    config_poll.cancel();
    suppression_purge.cancel();
    verifier.stop();
    http.stop();
    server.stop([&] { delivery.stop([&stopped] { stopped.set_value(); }); });
  });
  server.start();
  http.start();
  (*dispatcher)->start();
  delivery.start();
  verifier.start();
  pool.start();
  logger()->info("txmail {} serving node={} site={} region={} io_threads={}", TXMAIL_VERSION,
                 config.node_name, config.site, config.region, pool.size());
  logger()->flush();
  stopped.get_future().wait();

  // Every session and connection has ended: complete the pending writes, stop the threads.
  backend->leave();
  (*unbound)->shutdown();
  (*dispatcher)->stop();
  (*event_log)->close();
  (*spool)->close();
  pool.stop();
  pool.join();
  workers.join();
  const auto stats = (*spool)->stats();
  logger()->info("stopped: spool records={} syncs={} ack_latency_us p50={:.0f} p99={:.0f} count={}",
                 stats.records, stats.syncs, smtp_ctx.ack_latency.percentile_us(0.5),
                 smtp_ctx.ack_latency.percentile_us(0.99), smtp_ctx.ack_latency.count());
  logger()->flush();
  return 0;
}

}  // namespace txmail::app
