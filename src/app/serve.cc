#include "app/serve.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <future>

#include "common/ids.h"
#include "common/log.h"
#include "net/io_pool.h"
#include "net/tls_context.h"
#include "smtp/server/server.h"
#include "store/rocks_spool.h"
#include "store/sqlite_config_store.h"
#include "tenancy/account_directory.h"
#include "tenancy/authenticator.h"

namespace txmail::app {

namespace {

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

void recover(store::Spool& spool) {
  std::size_t queued = 0;
  std::size_t corrupt = 0;
  auto n = spool.scan(
      [&](store::SpoolRecord&& r) {
        for (const auto& rcpt : r.recipients) {
          queued += rcpt.status == store::RecipientStatus::kQueued ? 1 : 0;
        }
        return true;
      },
      [&](const Error& e) {
        ++corrupt;
        logger()->error("spool recovery: unreadable record: {}", e.detail);
      });
  if (n) {
    logger()->info("spool recovered jobs={} recipients_queued={} unreadable={}", *n, queued,
                   corrupt);
  } else {
    logger()->error("spool recovery failed: {}", n.error().detail);
  }
}

// Tests and tools find the bound ports here (listeners may be configured with port 0).
void write_ports(const std::string& data_dir, const std::vector<tcp::endpoint>& endpoints,
                 const std::vector<smtp::ListenerOptions>& listeners) {
  static constexpr const char* kModes[] = {"relay", "submission", "submissions"};
  const std::string tmp = data_dir + "/ports.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (std::size_t i = 0; i < endpoints.size(); ++i) {
      out << "smtp " << kModes[static_cast<int>(listeners[i].mode)] << " "
          << endpoints[i].address().to_string() << ":" << endpoints[i].port() << "\n";
    }
  }
  std::filesystem::rename(tmp, data_dir + "/ports");
}

}  // namespace

int serve(const Config& config) {
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
  std::filesystem::remove(config.data_dir + "/ports", fs_ec);
  auto config_store = store::SqliteConfigStore::open(config.data_dir + "/config.db");
  if (!config_store) {
    return fail(config, config_store.error().detail);
  }
  for (const auto& seed : config.accounts) {
    if (auto r = tenancy::bootstrap_account(**config_store, seed.name, seed.password,
                                            seed.allow_ips, seed.pool);
        !r) {
      return fail(config, "account " + seed.name + ": " + r.error().detail);
    }
  }
  auto accounts = tenancy::AccountDirectory::load(**config_store);
  if (!accounts) {
    return fail(config, accounts.error().detail);
  }
  tenancy::Authenticator authenticator(**accounts, config.auth_cache_ttl);
  auto spool =
      store::RocksSpool::open(config.data_dir + "/spool", store::RocksSpool::Mode::kReadWrite);
  if (!spool) {
    return fail(config, spool.error().detail);
  }
  recover(**spool);
  if (auto r = ensure_admin_token(config.admin_token_file); !r) {
    return fail(config, r.error().detail);
  }

  asio::thread_pool workers(config.worker_threads);
  net::IoPool pool(config.io_threads);
  smtp::ServerContext smtp_ctx(config.smtp, *tls, **spool, **accounts, authenticator, workers);
  smtp::SmtpServer server(smtp_ctx, pool);
  if (auto r = server.bind(); !r) {
    return fail(config, r.error().detail);
  }
  write_ports(config.data_dir, server.endpoints(), config.smtp.listeners);
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
    server.stop([&stopped] { stopped.set_value(); });
  });
  server.start();
  pool.start();
  logger()->info("txmail {} serving node={} site={} region={} io_threads={}", TXMAIL_VERSION,
                 config.node_name, config.site, config.region, pool.size());
  stopped.get_future().wait();

  // Every session has ended: complete the spool's pending writes, then stop the threads.
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
