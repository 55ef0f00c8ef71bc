// What a queue view costs the delivery engine's thread (issue console-1: GET /v2/admin/queues
// walks every scheduled unit there, in slices). Restores JOBS one-recipient jobs to
// DOMAINS domains into an engine that is not started (nothing is sent), then times views taken
// on the engine's thread, one a second apart on txmail's clock (the view is cached for a
// second), and a retry now of one domain (a walk of the schedule and a re-heap).
//
//   queue_view_bench DIR [JOBS] [DOMAINS]     (DIR: an empty spool directory; 1000000, 10000)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "common/ids.h"
#include "dns/fake_resolver.h"
#include "queue/delivery_engine.h"
#include "store/rocks_spool.h"

namespace {

using Steady = std::chrono::steady_clock;

double ms_since(Steady::time_point start) {
  return std::chrono::duration<double, std::milli>(Steady::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  using namespace txmail;
  if (argc < 2) {
    fmt::print(stderr, "usage: queue_view_bench DIR [JOBS] [DOMAINS]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const long jobs = argc > 2 ? std::atol(argv[2]) : 1'000'000;
  const long domains = argc > 3 ? std::atol(argv[3]) : 10'000;
  std::filesystem::create_directories(dir);
  auto spool = store::RocksSpool::open(dir, store::RocksSpool::Mode::kReadWrite);
  if (!spool) {
    fmt::print(stderr, "spool: {}\n", spool.error().detail);
    return 1;
  }
  asio::io_context io;
  asio::thread_pool workers(1);
  dns::FakeResolver resolver;
  queue::DeliveryOptions options;
  queue::DeliveryEngine engine(io, options, "bench.test", **spool, resolver, workers,
                               std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client),
                               nullptr, nullptr);
  const auto restore_start = Steady::now();
  const std::int64_t now = now_ms();
  for (long i = 0; i < jobs; ++i) {
    store::SpoolRecord r;
    r.job_id = new_job_id();
    r.account = "acct";
    r.sender = "s@sender.test";
    r.received_ms = now - i;
    const std::string to = fmt::format("r{}@d{}.test", i, i % domains);
    r.recipients.push_back(store::SpoolRecipient{
        to, mail_id_of(r.job_id, 0, 0), store::RecipientStatus::kQueued, 1, now + 3'600'000 + i});
    engine.restore(r);
  }
  fmt::print("restored {} jobs to {} domains in {:.0f} ms\n", jobs, domains,
             ms_since(restore_start));
  std::vector<double> views;
  double longest_turn = 0;  // the longest handler: how long the engine's other work waits
  for (int round = 0; round < 7; ++round) {
    Clock::advance(std::chrono::seconds(2));  // past the view's one-second cache
    bool done = false;
    const auto start = Steady::now();
    engine.view([&](const std::shared_ptr<const queue::QueueView>& v) {
      done = true;
      if (round == 0) {
        fmt::print("view: {} jobs, {} waiting recipients, {} domains listed (truncated: {})\n",
                   v->jobs, v->waiting_recipients, v->waiting.size(), v->waiting_truncated);
      }
    });
    io.restart();  // run out of work after the last round
    while (!done) {
      const auto turn = Steady::now();
      io.run_one();
      longest_turn = std::max(longest_turn, ms_since(turn));
    }
    views.push_back(ms_since(start));
  }
  std::ranges::sort(views);
  fmt::print(
      "view, first call to answer: median {:.1f} ms, min {:.1f}, max {:.1f} (7 views); "
      "the longest turn on the engine's thread {:.1f} ms\n",
      views[views.size() / 2], views.front(), views.back(), longest_turn);
  bool retried = false;
  const auto start = Steady::now();
  queue::QueueActionResult result;
  engine.retry_now({false, "d7.test"}, [&](queue::QueueActionResult r) {
    result = r;
    retried = true;
  });
  io.restart();
  double longest_retry_turn = 0;
  while (!retried) {
    const auto turn = Steady::now();
    io.run_one();
    longest_retry_turn = std::max(longest_retry_turn, ms_since(turn));
  }
  fmt::print(
      "retry now of one domain: {:.1f} ms to answer, {} units due now; the longest turn "
      "{:.1f} ms\n",
      ms_since(start), result.brought_forward, longest_retry_turn);
  bool stopped = false;
  engine.stop([&] { stopped = true; });
  io.restart();
  while (!stopped) {
    io.run_one();
  }
  workers.join();
  (*spool)->close();
  return 0;
}
