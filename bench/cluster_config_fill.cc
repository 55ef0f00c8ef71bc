// Fills a region's configuration bucket for bench/cluster_config.py (issue site-1): N accounts
// and N sender domains (domain i belongs to account i), written straight to the bucket through
// the cluster's ConfigStore with unconditional puts. The API would hash a password for every
// account (PBKDF2, about 0.1 s each) and generate an RSA key for every domain; here one password
// hash and one RSA-2048 key are made and reused, so a fill of 100,000 takes a minute, not hours.
// The entries are otherwise what the API writes: each domain verified, its key active and
// sealed with the cluster master key under the domain's own context ("dkim:<domain>:txm1"), so
// a node starting against the bucket unseals and parses every key as it would in production,
// and the DNS checks of the last verification are stored with it.
//
// Usage: cluster_config_fill --nats URL --master-key FILE [--accounts N] [--domains N]
//                            [--threads T] [--prefix P]
// Prints one line: key=value pairs (entries, seconds, bytes of JSON per kind).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "cluster/cluster.h"
#include "common/duration.h"
#include "tenancy/account.h"
#include "tenancy/master_key.h"
#include "tenancy/password_hash.h"
#include "tenancy/sender_domain.h"

using namespace txmail;

namespace {

[[noreturn]] void usage(const std::string& why) {
  fmt::print(stderr,
             "cluster_config_fill: {}\nusage: cluster_config_fill --nats URL --master-key FILE "
             "[--accounts N] [--domains N] [--threads T] [--prefix P]\n",
             why);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string nats;
  std::string key_file;
  std::string prefix = "fill";
  long accounts = 100'000;
  long domains = 100'000;
  int threads = 16;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) {
      usage(a + " needs a value");
    }
    const std::string v = argv[++i];
    if (a == "--nats")
      nats = v;
    else if (a == "--master-key")
      key_file = v;
    else if (a == "--accounts")
      accounts = std::stol(v);
    else if (a == "--domains")
      domains = std::stol(v);
    else if (a == "--threads")
      threads = std::stoi(v);
    else if (a == "--prefix")
      prefix = v;
    else
      usage("unknown option " + a);
  }
  if (nats.empty() || key_file.empty()) {
    usage("--nats and --master-key are required");
  }
  if (domains > accounts) {
    usage("every domain needs an account: --domains must not exceed --accounts");
  }
  auto master = tenancy::MasterKey::from_file(key_file);
  if (!master) {
    usage(master.error().detail);
  }

  cluster::ClusterOptions options;
  options.nats = {nats};
  options.node = prefix + "-filler";
  options.heartbeat = false;
  options.start_timeout = std::chrono::seconds(120);
  auto node = cluster::ClusterNode::join(options);
  if (!node) {
    fmt::print(stderr, "cluster_config_fill: {}\n", node.error().detail);
    return 1;
  }
  store::ConfigStore& store = (*node)->config();

  const std::int64_t now = now_ms();
  const std::string password_hash = tenancy::hash_password("bench-fill-password");
  tenancy::DomainSettings settings;
  settings.service_zone = "svc.test";
  // One RSA-2048 key for every domain (generating 100,000 would take about two hours).
  auto model = tenancy::create_domain("model." + prefix + ".test", prefix, settings, *master, now);
  if (!model) {
    fmt::print(stderr, "cluster_config_fill: {}\n", model.error().detail);
    return 1;
  }
  const tenancy::DomainKey model_key = model->keys.at(0);
  auto pem =
      master->open(model_key.sealed_private_key, "dkim:" + model->name + ":" + model_key.selector);
  if (!pem) {
    fmt::print(stderr, "cluster_config_fill: {}\n", pem.error().detail);
    return 1;
  }

  auto account_name = [&](long i) {
    return fmt::format("{}{:06}", prefix, i);
  };
  std::atomic<long> next{0};
  std::atomic<long> failed{0};
  std::atomic<std::uint64_t> account_bytes{0};
  std::atomic<std::uint64_t> domain_bytes{0};
  const long total = accounts + domains;
  const auto t0 = std::chrono::steady_clock::now();
  auto work = [&] {
    for (long n = next++; n < total; n = next++) {
      std::string key;
      std::string value;
      if (n < accounts) {
        tenancy::Account a;
        a.name = account_name(n);
        a.password_hash = password_hash;
        a.created_ms = now;
        key = tenancy::account_key(a.name);
        value = tenancy::to_json(a);
        account_bytes += value.size();
      } else {
        const long i = n - accounts;
        tenancy::SenderDomain d;
        d.name = fmt::format("d{:06}.{}.test", i, prefix);
        d.account = account_name(i);
        d.created_ms = now;
        d.verified = true;
        d.verified_ms = now;
        d.checked_ms = now;
        tenancy::DomainKey k = model_key;
        k.state = tenancy::KeyState::kActive;
        k.activated_ms = now;
        k.sealed_private_key = master->seal(*pem, "dkim:" + d.name + ":" + k.selector);
        d.keys.push_back(std::move(k));
        d.checks = tenancy::records_to_publish(d, settings);
        for (auto& c : d.checks) {
          c.status = "ok";
        }
        key = tenancy::domain_key(d.name);
        value = tenancy::to_json(d);
        domain_bytes += value.size();
      }
      for (int attempt = 0;; ++attempt) {
        auto r = store.put(key, value, store::Expect::any());
        if (r) {
          break;
        }
        if (attempt == 5) {
          fmt::print(stderr, "cluster_config_fill: {}: {}\n", key, r.error().detail);
          ++failed;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      if ((n + 1) % 20'000 == 0) {
        fmt::print(stderr, "cluster_config_fill: {} of {} entries\n", n + 1, total);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back(work);
  }
  for (auto& t : pool) {
    t.join();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(
      "entries={} failed={} seconds={:.1f} per_second={:.0f} accounts={} account_bytes={} "
      "domains={} domain_bytes={}\n",
      total - failed, failed.load(), seconds, static_cast<double>(total - failed) / seconds,
      accounts, account_bytes.load(), domains, domain_bytes.load());
  return failed == 0 ? 0 : 1;
}
