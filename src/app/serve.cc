#include "app/serve.h"

#include <fmt/format.h>
#include <malloc.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>

#include "api/domains.h"
#include "api/http_server.h"
#include "api/jobs.h"
#include "api/message_search.h"
#include "api/sandbox.h"
#include "api/service.h"
#include "api/status.h"
#include "api/unsubscribe.h"
#include "api/webhook_settings.h"
#include "app/data_manifest.h"
#include "app/domain_verifier.h"
#include "app/inbound.h"
#include "app/metrics.h"
#include "app/node_files.h"
#include "app/readiness.h"
#include "app/stores.h"
#include "app/tenancy_accounts.h"
#include "app/zone_command.h"
#include "common/duration.h"
#include "common/ids.h"
#include "common/log.h"
#include "dns/caching_resolver.h"
#include "dns/unbound_resolver.h"
#include "events/delivery_report.h"
#include "events/events_first_spool.h"
#include "events/sqlite_event_log.h"
#include "events/webhooks.h"
#include "mime/headers.h"
#include "net/auth_failure_limiter.h"
#include "net/io_pool.h"
#include "net/tls_context.h"
#include "queue/delivery_engine.h"
#include "queue/egress_settings.h"
#include "queue/sandbox.h"
#include "smtp/server/server.h"
#include "store/capture_store.h"
#include "store/rocks_spool.h"
#include "tenancy/account_directory.h"
#include "tenancy/authenticator.h"
#include "tenancy/dkim_keyring.h"
#include "tenancy/domain_service.h"
#include "tenancy/rate_limiter.h"
#include "tenancy/recipient_policy.h"
#include "tenancy/return_path.h"
#include "tenancy/suppression.h"

namespace txmail::app {

namespace {

// The COMPLAINED event a sandbox delivery to complaint@simulator.txmail.invalid is followed by
// (queue/sandbox.h), shaped as the inbound listener makes one from a feedback report.
std::optional<events::Event> simulated_complaint(const queue::Outcome& o) {
  if (o.kind != queue::Outcome::Kind::kDelivered || o.remote_host != queue::kSandboxHost
      || queue::simulated(o.recipient) != queue::Simulated::kComplaint) {
    return std::nullopt;
  }
  events::Event e = events::event_of(o);
  e.kind = events::Kind::kComplained;
  e.attempt = 0;
  e.tls.clear();
  e.egress.clear();
  e.reply = "feedback report: type=abuse, user-agent=txmail sandbox (simulated complaint)";
  return e;
}

// Runs `work` on the worker pool every `interval` (the next wait starts when it is done) until
// the timer is cancelled: periodic store work never runs on an I/O thread.
void every(asio::steady_timer& timer, asio::thread_pool& workers,
           std::chrono::milliseconds interval, std::function<void()> work) {
  timer.expires_after(interval);
  timer.async_wait(
      [&timer, &workers, interval, work = std::move(work)](const boost::system::error_code& ec) {
        if (ec) {
          return;
        }
        asio::post(workers, [&timer, &workers, interval, work] {
          work();
          asio::post(timer.get_executor(),
                     [&timer, &workers, interval, work] { every(timer, workers, interval, work); });
        });
      });
}

// Cluster mode: the region's egress sources, pools and routes are one document in the shared
// config store, seeded from this node's config file when the region has none yet. The node
// sends from its own site's part and follows every change (PUT /v2/admin/egress).
Result<void> share_egress(store::ConfigStore& store, const Config& config,
                          queue::DeliveryEngine& delivery) {
  auto apply = [&delivery, site = config.site](const std::string& json) {
    auto all = queue::egress_from_json(json);
    auto own = all ? queue::for_site(*all, site) : tl::unexpected(all.error());
    if (!own) {
      logger()->error("shared egress settings ignored, the last good ones stay: {}",
                      own.error().detail);
      return;
    }
    delivery.reconfigure(std::move(*own));
  };
  auto seeded =
      store.put(queue::kEgressKey, queue::to_json(config.egress), store::Expect::absent());
  if (!seeded && seeded.error().code != ErrorCode::kConflict) {
    return tl::unexpected(seeded.error());
  }
  if (seeded) {
    logger()->info("cluster: the region's egress settings seeded from this node's config file");
  }
  store.watch(queue::kEgressKey, [apply](const store::ConfigChange& c) {
    if (c.value) {
      apply(*c.value);
    }
  });
  auto current = store.get(queue::kEgressKey);
  if (!current) {
    return tl::unexpected(current.error());
  }
  if (*current) {
    apply((*current)->value);
  }
  return {};
}

// One line on stderr (and in the log file, when there is one); exit status 1.
int fail(const Config& config, const std::string& what) {
  if (!config.log_file.empty()) {
    logger()->critical("{}", what);
  }
  fmt::print(stderr, "txmail: {}\n", what);
  return 1;
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

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
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
  const DataStores stores{config.data_dir, config.cluster.enabled() ? config.cluster.master_key_file
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
  auto keyring = tenancy::DkimKeyring::load(*config_store, *master);
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
  if (const std::uint64_t lost = (*spool)->lost_writes(); lost > 0) {
    const std::string what =
        "spool: its write-ahead log ends " + std::to_string(lost)
        + " writes before where the spool had been (a log cut short or damaged)";
    if (!config.accept_data_loss) {
      return fail(config, what + ": restore " + config.data_dir
                              + "/spool from a backup, or start with --accept-data-loss");
    }
    logger()->error("{}; started anyway (--accept-data-loss): the jobs in those writes are lost",
                    what);
    (*spool)->accept_lost_writes();
  }
  (*spool)->set_min_free_space(config.min_free_space);
  // What intake, delivery and the API write through: in cluster mode the local spool plus the
  // region's stream (issue site-2), else the local spool alone.
  std::unique_ptr<cluster::ClusterSpool> cluster_spool;
  store::Spool* jobs_spool = spool->get();
  if (auto* node = backend->cluster_node(); node != nullptr) {
    auto replicated = node->open_spool(**spool, config.data_dir);
    if (!replicated) {
      return fail(config, replicated.error().detail);
    }
    cluster_spool = std::move(*replicated);
    jobs_spool = cluster_spool.get();
  }
  Readiness readiness(
      Readiness::Sources{.data_dir = config.data_dir,
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
  // Before the events' replication, which answers acceptances on them (and outlives it).
  asio::thread_pool workers(config.worker_threads);
  // Cluster mode: this node's events go to the region's stream, the others' come into the log.
  std::unique_ptr<cluster::ClusterEvents> cluster_events;
  if (auto* node = backend->cluster_node(); node != nullptr) {
    auto replicated = node->replicate_events(**event_log, [&workers](std::function<void()> answer) {
      asio::post(workers, std::move(answer));
    });
    if (!replicated) {
      return fail(config, replicated.error().detail);
    }
    cluster_events = std::move(*replicated);
  }
  // Every event goes through the counting wrapper (metrics) to the log.
  NodeMetrics node_metrics;
  CountingEventLog counted_events(**event_log, node_metrics);
  events::EventLog* log = &counted_events;
  auto client_tls = net::make_client_tls();
  if (!client_tls) {
    return fail(config, client_tls.error().detail);
  }

  net::IoPool pool(config.io_threads);
  auto unbound = dns::UnboundResolver::create(
      pool.at(0).get_executor(), dns::UnboundOptions{config.dns_servers, std::chrono::seconds(15)});
  if (!unbound) {
    return fail(config, unbound.error().detail);
  }
  dns::CachingResolver resolver(**unbound, dns::CacheOptions{});
  // With [bounces] domain every recipient's envelope sender is its own return path
  // (b-<token>@domain, tenancy/return_path.h), so what comes back after delivery names it; the
  // domain is the sender domain's own bounce.<domain> once that is verified.
  queue::DeliveryOptions delivery_options = config.delivery;
  if (!config.bounce_domain.empty()) {
    delivery_options.return_path = [rp = tenancy::ReturnPath::from(*master),
                                    domain = config.bounce_domain, keys = keyring->get()](
                                       const std::string& mail_id, const std::string& sender) {
      auto local = rp.local_part(mail_id);
      if (!local) {
        return std::optional<std::string>();
      }
      return std::optional<std::string>(*local + "@"
                                        + tenancy::bounce_domain_of(*keys, sender, domain));
    };
  }
  // Sandbox accounts' mail goes to the capture store instead of a server (queue/sandbox.h).
  auto captures = store::CaptureStore::open(config.data_dir + "/sandbox.db", config.sandbox);
  if (!captures) {
    return fail(config, captures.error().detail);
  }
  auto is_sandbox = [&accounts](const std::string& account) {
    auto a = (*accounts)->find(account);
    return a && a->sandbox;
  };
  delivery_options.sandbox = is_sandbox;
  delivery_options.capture = [c = captures->get()](const std::vector<store::CapturedMessage>& m) {
    return c->put(m).map([](std::size_t) {});
  };
  // Delivery runs on the first io_context; outcomes go to the event log, and what an attempt
  // changes in the spool is written once its events are stored (events_first_spool.h).
  events::EventsFirstSpool delivery_spool(*jobs_spool, *log);
  queue::DeliveryEngine delivery(
      pool.at(0), delivery_options, config.node_name, delivery_spool, resolver, workers,
      *client_tls,
      [&accounts](const std::string& account) {
        auto a = (*accounts)->find(account);
        return a ? a->pool : std::string();
      },
      [log, &workers, &node_metrics, list = suppressions->get(),
       every = config.deferred_every](const queue::Outcome& o) {
        if (events::reported(o, every)) {
          log->append(events::event_of(o));
        }
        if (auto complaint = simulated_complaint(o)) {
          log->append(*complaint);
        }
        if (o.kind == queue::Outcome::Kind::kDelivered && o.received_ms > 0) {
          node_metrics.delivery_latency.record(std::chrono::milliseconds(now_ms() - o.received_ms));
        }
        if (o.kind == queue::Outcome::Kind::kBouncedHard) {
          // A store write: on the worker pool.
          asio::post(workers, [list, account = o.account, recipient = o.recipient,
                               bounce = o.verdict.suppression, reply = o.reply] {
            // add_bounce logs its own failure; the bounce is already final for this job.
            (void)list->add_bounce(account, recipient, bounce, reply, now_ms());
          });
        }
      });
  if (backend->clustered()) {
    if (auto r = share_egress(*config_store, config, delivery); !r) {
      return fail(config, r.error().detail);
    }
  }
  queue::recover_from_spool(*jobs_spool, delivery);
  if (cluster_spool) {
    // Takeovers begin once the node's own jobs are in the queue.
    cluster_spool->start(
        cluster::SpoolHooks{.adopt = [&delivery, log](std::vector<store::SpoolRecord> records) {
          // Each job's data came with its record: its events may never have reached the
          // region (its node died first), and this node notifies of what it delivers.
          for (auto& r : records) {
            if (auto info = events::job_info_from_data(r.job_data)) {
              log->append_job(std::move(*info));
            }
          }
          delivery.adopt(std::move(records));
        }});
  }
  // The intake policy on recipients, shared with REST; suppression renewals on the workers.
  tenancy::RecipientPolicy recipient_policy(
      suppressions->get(),
      [&workers](std::function<void()> renew) { asio::post(workers, std::move(renew)); },
      [is_sandbox](const std::string& account, const std::string& address) {
        return queue::simulated(address) == queue::Simulated::kSuppressed && is_sandbox(account);
      });
  // The per-account hourly limit and the failed authentications per client address: one of
  // each, shared by SMTP and the HTTP API. The hourly limit counts on this node (embedded) or
  // across the region (cluster).
  auto limiter = [&]() -> Result<std::unique_ptr<tenancy::RequestLimiter>> {
    if (auto* node = backend->cluster_node(); node != nullptr) {
      return node->open_rate_limiter();
    }
    return std::make_unique<tenancy::RateLimiter>();
  }();
  if (!limiter) {
    return fail(config, limiter.error().detail);
  }
  net::AuthFailureLimiter auth_failures(
      net::AuthFailureLimits{.per_user = config.smtp.max_auth_failures_per_user,
                             .per_ip = config.smtp.max_auth_failures_per_ip,
                             .window = config.smtp.auth_failure_window});
  TenancyAccounts smtp_accounts(
      TenancyAccountsDeps{.directory = **accounts,
                          .authenticator = authenticator,
                          .keyring = keyring->get(),
                          .limiter = limiter->get(),
                          .default_hourly_limit = config.account_hourly_limit,
                          .recipients = &recipient_policy});
  smtp::ServerContext smtp_ctx(config.smtp, *tls, *jobs_spool, smtp_accounts, auth_failures,
                               workers);
  // An SMTP job is STARTED for each recipient (the status API shows it from the start), then
  // handed to delivery; the events are appended first, so they come first in the log.
  smtp_ctx.refuse_intake = [&readiness] {
    return readiness.intake_refusal();
  };
  smtp_ctx.on_spooled = [&delivery, log](store::SpoolRecord& r) {
    for (const auto& rcpt : r.recipients) {
      log->append(events::recipient_event(events::Kind::kStarted, r, rcpt));
    }
    delivery.submit(r);
  };
  auto smtp_job = [sealer](const store::SpoolRecord& r, const mime::ControlFields& c) {
    events::JobInfo info = events::smtp_job_info(r, c);
    if (!c.notification_url.empty()) {
      const events::Endpoint e{c.notification_url, c.notification_headers, c.auth_user,
                               c.auth_password};
      info.endpoint_sealed = sealer->seal(events::to_json(e), "endpoint:" + r.job_id);
    }
    return info;
  };
  if (backend->clustered()) {
    smtp_ctx.job_data = [smtp_job](const store::SpoolRecord& r, const mime::ControlFields& c) {
      return events::job_data(smtp_job(r, c));
    };
  }
  smtp_ctx.on_job = [log, smtp_job](const store::SpoolRecord& r, const mime::ControlFields& c) {
    auto carried = events::job_info_from_data(r.job_data);  // cluster mode: made already
    log->append_job(carried ? std::move(*carried) : smtp_job(r, c));
  };
  smtp_ctx.events_stored = [log](std::function<void()> stored) {
    log->append_all({}, std::move(stored));
  };
  smtp_ctx.on_dropped = [log](const store::SpoolRecord& r, const store::SpoolRecipient& rcpt,
                              const smtp::RecipientDrop& why) {
    events::Event e =
        events::recipient_event(events::dropped_kind(tenancy_drop_reason(why.reason)), r, rcpt);
    e.reply = why.detail;
    log->append(std::move(e));
  };
  smtp_ctx.delivery_backlog = [&delivery](const std::string& account) {
    return delivery.ready_backlog(account);
  };
  smtp_ctx.on_note = [log](const store::SpoolRecord& r, const std::string& note) {
    for (const auto& rcpt : r.recipients) {
      events::Event e = events::recipient_event(events::Kind::kProcessed, r, rcpt);
      e.reply = note;
      log->append(e);
    }
  };
  // One-click unsubscribe links txmail hosts ([bounces] unsubscribe_url, issue bounce-1).
  std::unique_ptr<api::Unsubscribes> unsubscribes;
  if (!config.unsubscribe_url.empty()) {
    unsubscribes = std::make_unique<api::Unsubscribes>(
        tenancy::ReturnPath::unsubscribe_from(*master), config.unsubscribe_url,
        config.bounce_domain, *log, **suppressions);
  }
  // What comes back to the return paths ([[smtp.listener]] mode = "inbound", issue bounce-1).
  std::unique_ptr<InboundHandler> inbound;
  std::unique_ptr<KeptMessages> kept;
  if (!config.bounce_domain.empty()) {
    if (config.kept_messages > 0) {
      auto opened = KeptMessages::open(config.data_dir + "/inbound-kept",
                                       {config.kept_messages, config.kept_bytes});
      if (!opened) {
        return fail(config, opened.error().detail);
      }
      kept = std::move(*opened);
    }
    inbound = std::make_unique<InboundHandler>(
        tenancy::ReturnPath::from(*master),
        InboundSettings{config.bounce_domain, config.feedback_address}, *log, **suppressions,
        kept.get());
    inbound->also_accept([keys = keyring->get()](std::string_view domain) {
      return tenancy::is_return_path_domain(*keys, domain);
    });
    inbound->unsubscribe_with(unsubscribes.get());
    smtp_ctx.inbound_recipient = [h = inbound.get()](const std::string& address) {
      return h->accepts(address);
    };
    smtp_ctx.inbound_message = [h = inbound.get()](const std::string& message,
                                                   const std::vector<std::string>& rcpts) {
      return h->receive(message, rcpts);
    };
  }
  // Background verification of sender domains: uncached lookups (a record just published must
  // not hide behind a cached "no such name").
  tenancy::DomainService domain_service(*config_store, config.domains,
                                        [&config] { return load_master_key(config); });
  DomainVerifier verifier(pool.at(0), workers, domain_service, **unbound,
                          config.domain_verify_interval);
  asio::steady_timer config_poll(pool.at(0));
  // Changes other processes made to the embedded config store (administration commands write
  // the same file) reach the watchers within a second; the disk is probed for /readyz.
  every(config_poll, workers, std::chrono::seconds(1),
        [store = config_store, &readiness, poll = backend->needs_refresh()] {
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
  api::MessageSearchApi message_search(**event_log);
  api::SandboxApi sandbox_api(**captures);
  api::WebhooksApi webhooks_api(api::WebhooksDeps{.config = *config_store,
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
  webhook_options.poll = config.notify_read_interval;
  // Cluster: the region's queue sends the notifications, from whichever node has room.
  std::unique_ptr<events::HookQueue> hook_queue;
  if (auto* node = backend->cluster_node(); node != nullptr) {
    auto opened =
        node->open_hook_queue([&open_sealed](const std::string& sealed, const std::string& job) {
          auto plain = open_sealed(sealed, "webhook:" + job);
          auto ep = plain ? events::endpoint_from_json(*plain) : std::nullopt;
          return ep ? ep->url : std::string();
        });
    if (!opened) {
      return fail(config, opened.error().detail);
    }
    hook_queue = std::move(*opened);
  }
  auto dispatcher = events::WebhookDispatcher::open(
      events::WebhookDispatcher::Deps{.event_log = **event_log,
                                      .state_db = config.data_dir + "/webhooks.db",
                                      .account_endpoint =
                                          [&webhooks_api](const std::string& account) {
                                            return webhooks_api.account_endpoint(account);
                                          },
                                      .secret_of = webhook_secret,
                                      .seal = seal,
                                      .open = open_sealed,
                                      .resolver = &resolver,
                                      .queue = hook_queue.get()},
      webhook_options);
  if (!dispatcher) {
    return fail(config, dispatcher.error().detail);
  }
  webhooks_api.set_dispatcher(dispatcher->get());
  // Embedded: the node's own file; cluster: the region's bucket (one answer at every site).
  auto idempotency = [&]() -> Result<std::unique_ptr<api::Idempotency>> {
    if (auto* node = backend->cluster_node(); node != nullptr) {
      return node->open_idempotency();
    }
    auto file = api::IdempotencyStore::open(config.data_dir + "/idempotency.db");
    if (!file) {
      return tl::unexpected(file.error());
    }
    return std::unique_ptr<api::Idempotency>(std::move(*file));
  }();
  if (!idempotency) {
    return fail(config, idempotency.error().detail);
  }
  // Every store is open: the next start checks that they are all still there.
  if (auto r = record_data_dir(stores); !r) {
    return fail(config, r.error().detail);
  }

  auto jobs_api = api::make_jobs_api(
      api::JobsDeps{.accounts = **accounts,
                    .keyring = keyring->get(),
                    .spool = *jobs_spool,
                    .events = *log,
                    .idempotency = **idempotency,
                    .on_spooled = [&delivery](store::SpoolRecord& r) { delivery.submit(r); },
                    .recipients = &recipient_policy,
                    .hostname = config.node_name,
                    .limits = api::JobLimits{config.max_job_recipients, config.max_message_bytes,
                                             500, config.max_job_bytes},
                    .ack_latency = &node_metrics.rest_ack,
                    .seal = seal,
                    .job_data_in_spool = backend->clustered(),
                    .unsubscribes = unsubscribes.get()});
  MetricsSources metrics_sources{
      .node = &node_metrics,
      .smtp_ack = &smtp_ctx.ack_latency,
      .queued_jobs = [&delivery] { return static_cast<std::uint64_t>(delivery.queued_jobs()); },
      .ready_backlog = [&delivery] { return static_cast<std::uint64_t>(delivery.ready_backlog()); },
      .ready_queues = [&delivery] { return static_cast<std::uint64_t>(delivery.ready_queues()); },
      .spool_bytes = [s = spool->get()] { return s->bytes(); },
      .suppressions = [l = suppressions->get()] { return static_cast<std::uint64_t>(l->size()); },
      .event_backlog = [l = event_log->get()] { return static_cast<std::uint64_t>(l->backlog()); },
      .webhooks = [d = dispatcher->get()] { return d->stats(); },
      .inbound = [h = inbound.get()] { return h != nullptr ? h->stats() : InboundStats{}; },
      .cluster_spool = cluster_spool.get(),
      .cluster_events = cluster_events.get()};
  api::ApiService api_service(api::ServiceDeps{
      .config = *config_store,
      .accounts = **accounts,
      .authenticator = authenticator,
      .limiter = **limiter,
      .default_hourly_limit = config.account_hourly_limit,
      .admin_token = *admin_token,
      .domains = &domains_api,
      .domain_service = &domain_service,
      .suppressions = suppressions->get(),
      .jobs = jobs_api.get(),
      .status = &status_api,
      .messages = &message_search,
      .webhooks = &webhooks_api,
      .sandbox = &sandbox_api,
      .unsubscribes = unsubscribes.get(),
      .delivery = &delivery,
      .auth_failures = &auth_failures,
      .auth_block =
          std::chrono::duration_cast<std::chrono::seconds>(config.smtp.auth_failure_window),
      .unready = [&readiness] { return readiness.reason(); },
      .refuse_jobs = [&readiness] { return readiness.intake_refusal(); },
      .set_draining = [&readiness](bool on) { readiness.set_draining(on); },
      .shared_egress = backend->clustered(),
      .metrics =
          [&metrics_sources] {
            return render_metrics(metrics_sources);
          }});
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
  http.set_precheck(
      [&api_service](const api::Request& r) { return api_service.check_credentials(r); });
  if (auto r = http.bind(); !r) {
    return fail(config, r.error().detail);
  }
  for (const auto& [ep, is_tls] : http.endpoints()) {
    logger()->info("http{} listening on {}:{}", is_tls ? "s" : "", ep.address().to_string(),
                   ep.port());
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
  // The ports file says "ready": a SIGTERM from here on is the handler's (asio queues one that
  // comes before the pool runs), never the default action's.
  write_ports(config.data_dir, server.endpoints(), config.smtp.listeners, http.endpoints());
  for (const auto& ep : server.endpoints()) {
    logger()->info("smtp listening on {}:{}", ep.address().to_string(), ep.port());
  }
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
  if (auto left = delivery_spool.flush(std::chrono::seconds(30)); left > 0) {
    logger()->warn("{} spool writes of delivery attempts not made: their jobs are tried again",
                   left);
  }
  if (cluster_spool) {
    cluster_spool->close();
  }
  backend->leave();
  (*unbound)->shutdown();
  (*dispatcher)->stop();
  cluster_events.reset();  // its last position goes to the log before the log closes
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
