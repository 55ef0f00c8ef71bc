// GET /metrics (issue core-5, item 6): the node's counters, gauges and latency histograms in
// Prometheus text format (version 0.0.4). No label grows with traffic: events are counted by
// their phase/type/subType (a fixed catalogue), intake by interface; never per domain or
// account.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <string>

#include "app/inbound.h"
#include "cluster/cluster.h"
#include "common/histogram.h"
#include "events/event_log.h"
#include "events/webhooks.h"

namespace txmail::app {

inline constexpr std::size_t kEventKinds = static_cast<std::size_t>(events::kLastKind) + 1;

struct NodeMetrics {
  std::array<std::atomic<std::uint64_t>, kEventKinds> events{};
  Histogram delivery_latency;  // acceptance to DELIVERED, per recipient
  Histogram rest_ack;          // a JobRequest read to its 202
};

// What the metrics page reads at the moment it is asked (each any-thread and cheap).
struct MetricsSources {
  const NodeMetrics* node = nullptr;
  const Histogram* smtp_ack = nullptr;  // end of message data to the spool's sync
  std::function<std::uint64_t()> queued_jobs;
  std::function<std::uint64_t()> ready_backlog;
  std::function<std::uint64_t()> ready_queues;
  std::function<std::uint64_t()> spool_bytes;
  std::function<std::uint64_t()> suppressions;
  std::function<std::uint64_t()> event_backlog;
  std::function<events::WebhookStats()> webhooks;
  std::function<InboundStats()> inbound;                   // zeros without an inbound handler
  const cluster::ClusterSpool* cluster_spool = nullptr;    // cluster mode only
  const cluster::ClusterEvents* cluster_events = nullptr;  // cluster mode only
};

std::string render_metrics(const MetricsSources& s);

// Counts every event by kind on its way to the log it wraps.
class CountingEventLog final : public events::EventLog {
 public:
  CountingEventLog(events::EventLog& inner, NodeMetrics& metrics)
      : inner_(inner), metrics_(metrics) {}

  void append(events::Event event) override {
    count(event);
    inner_.append(std::move(event));
  }

  void append_all(std::vector<events::Event> events, std::function<void()> stored) override {
    for (const auto& e : events) {
      count(e);
    }
    inner_.append_all(std::move(events), std::move(stored));
  }

  void after_stored(std::function<void()> done) override { inner_.after_stored(std::move(done)); }

  void append_job(events::JobInfo info) override { inner_.append_job(std::move(info)); }

  Result<std::vector<events::Event>> for_job(const std::string& job_id) override {
    return inner_.for_job(job_id);
  }

  Result<std::vector<events::Event>> for_mail(const std::string& mail_id) override {
    return inner_.for_mail(mail_id);
  }

  Result<std::vector<events::LoggedEvent>> read_after(std::int64_t after,
                                                      std::size_t limit) override {
    return inner_.read_after(after, limit);
  }

  Result<std::int64_t> last_seq() override { return inner_.last_seq(); }

  void close() override { inner_.close(); }

 private:
  void count(const events::Event& e) {
    const auto i = static_cast<std::size_t>(e.kind);
    if (i < kEventKinds) {
      metrics_.events[i].fetch_add(1, std::memory_order_relaxed);
    }
  }

  events::EventLog& inner_;
  NodeMetrics& metrics_;
};

}  // namespace txmail::app
