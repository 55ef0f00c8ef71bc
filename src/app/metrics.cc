#include "app/metrics.h"

#include <fmt/format.h>

#include "net/asio.h"

namespace txmail::app {

namespace {

constexpr double kBounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                              1,     2.5,    5,     10,   30,    60,   300, 1800, 3600};

void histogram(std::string& out, const char* name, const char* help, const Histogram& h,
               const char* labels = "") {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  const std::string sep = *labels != '\0' ? "," : "";
  for (double b : kBounds) {
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep, b, h.count_at_most(b));
  }
  const std::uint64_t count = h.count();
  out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, count);
  const std::string braces = *labels != '\0' ? fmt::format("{{{}}}", labels) : "";
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, h.sum_seconds(), name, braces,
                     count);
}

void gauge(std::string& out, const char* name, const char* help, std::uint64_t value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, value);
}

void counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
  out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, value);
}

// The replicated spool (issue site-2).
void cluster_spool(std::string& out, const cluster::ClusterSpool& spool) {
  const auto c = spool.stats();
  histogram(out, "txmail_cluster_replication_seconds",
            "From a job's put to the region's acknowledgement of every part of it.",
            spool.replication_latency());
  counter(out, "txmail_cluster_replicated_jobs_total", "Jobs the region stored at intake.",
          c.replicated_jobs);
  counter(out, "txmail_cluster_publish_resends_total",
          "Parts sent again (same Nats-Msg-Id) after a timeout or no responders.",
          c.publish_resends);
  counter(out, "txmail_cluster_replication_failures_total",
          "Jobs the region did not store in time at intake (refused, or kept locally).",
          c.replication_failures);
  gauge(out, "txmail_cluster_local_only_jobs",
        "Jobs held on this node's disk alone, waiting to be replicated.", c.local_only_jobs);
  gauge(out, "txmail_cluster_stream_pending",
        "Finished jobs waiting to leave the region's stream (then the local spool).",
        c.stream_pending);
  counter(out, "txmail_cluster_spool_orphans_removed_total",
          "Jobs found in this site's spool stream with nothing accounting for them (of this "
          "node's spool: a refused put stored later, a removal that missed a part; of a retired "
          "spool: shown again by a replica that missed their removal), then removed.",
          c.orphans_removed);
  gauge(out, "txmail_cluster_publishing", "Groups of parts on their way to the region.",
        c.publishing);
  counter(out, "txmail_cluster_takeovers_total",
          "Spools this node claimed from a node silent past node_timeout.", c.takeovers);
  counter(out, "txmail_cluster_adopted_jobs_total", "Jobs this node took over.", c.adopted_jobs);
  counter(out, "txmail_cluster_fenced_total",
          "Times this node found its own spool taken over (it was judged dead).", c.fenced);
  gauge(out, "txmail_cluster_spools_held", "Spools this node owns: its own and those taken over.",
        c.spools_held);
  gauge(out, "txmail_cluster_lease",
        "1 while the region has confirmed lately that this node owns its spools (it delivers).",
        c.lease ? 1 : 0);
}

// The region's events stream (issue site-3, item 1).
void cluster_events(std::string& out, const cluster::ClusterEvents& events) {
  const auto e = events.stats();
  counter(out, "txmail_cluster_events_published_total",
          "This node's events the region's stream stored.", e.published);
  counter(out, "txmail_cluster_events_publish_failures_total",
          "Rounds of events the region did not store in time (sent again).", e.publish_failures);
  counter(out, "txmail_cluster_events_imported_total",
          "Other nodes' events copied into this node's log.", e.imported);
  gauge(out, "txmail_cluster_events_import_pending",
        "Events in the region's stream not yet copied into this node's log.", e.import_pending);
  gauge(out, "txmail_cluster_events_import_lag_milliseconds",
        "Age of the newest copied event when it was copied.",
        static_cast<std::uint64_t>(e.import_lag_ms));
  counter(out, "txmail_cluster_events_answered_unpublished_total",
          "Acceptances answered before the region stored their events (it did not in time).",
          e.answered_unpublished);
}

// What came back to the return paths (issue bounce-1).
void inbound(std::string& out, const InboundStats& i) {
  counter(out, "txmail_inbound_messages_total", "Messages the inbound listener took.", i.messages);
  counter(out, "txmail_inbound_bounces_total", "BOUNCED events made from bounces that came back.",
          i.bounces);
  counter(out, "txmail_inbound_complaints_total", "Feedback reports (ARF) received.", i.complaints);
  counter(out, "txmail_inbound_auto_replies_total", "Automatic replies (never a bounce).",
          i.auto_replies);
  counter(out, "txmail_inbound_unreadable_total",
          "Messages that are neither a report nor a known bounce (kept for inspection).",
          i.unreadable);
  counter(out, "txmail_inbound_unknown_mail_total",
          "Reports that name no mail the event log knows.", i.unknown_mail);
  counter(out, "txmail_inbound_rejected_total",
          "Recipients the inbound listener refused at RCPT: not a return path of this node with "
          "a right MAC (forged or altered tokens), nor the feedback address.",
          i.rejected);
  gauge(out, "txmail_inbound_kept_messages", "Inbound messages kept for inspection.", i.kept);
  gauge(out, "txmail_inbound_kept_bytes", "Bytes of the inbound messages kept.", i.kept_bytes);
  counter(out, "txmail_inbound_kept_dropped_total",
          "Kept inbound messages removed to make room for newer ones.", i.kept_dropped);
}

}  // namespace

std::string render_metrics(const MetricsSources& s) {
  std::string out;
  out.reserve(8192);
  out +=
      "# HELP txmail_events_total Events written to the event log, by phase, type and subType.\n"
      "# TYPE txmail_events_total counter\n";
  for (std::size_t k = 0; k < kEventKinds; ++k) {
    events::Event e;
    e.kind = static_cast<events::Kind>(k);
    out += fmt::format("txmail_events_total{{phase=\"{}\",type=\"{}\",subType=\"{}\"}} {}\n",
                       e.phase(), e.type(), e.sub_type(),
                       s.node->events[k].load(std::memory_order_relaxed));
  }
  out +=
      "# HELP txmail_jobs_accepted_total Jobs accepted (synced to the spool), by interface.\n"
      "# TYPE txmail_jobs_accepted_total counter\n";
  out += fmt::format("txmail_jobs_accepted_total{{interface=\"smtp\"}} {}\n",
                     s.smtp_ack != nullptr ? s.smtp_ack->count() : 0);
  out += fmt::format("txmail_jobs_accepted_total{{interface=\"rest\"}} {}\n",
                     s.node->rest_ack.count());
  histogram(out, "txmail_acceptance_seconds",
            "From the end of a message (SMTP) or request (REST) to its acknowledgement.",
            *s.smtp_ack, "interface=\"smtp\"");
  // One family, two label values: the HELP/TYPE lines come once.
  std::string rest;
  histogram(rest, "txmail_acceptance_seconds", "", s.node->rest_ack, "interface=\"rest\"");
  out += rest.substr(rest.find('\n', rest.find("# TYPE")) + 1);
  histogram(out, "txmail_delivery_seconds", "From acceptance to DELIVERED, per recipient.",
            s.node->delivery_latency);
  gauge(out, "txmail_queue_jobs", "Jobs in the delivery queue.",
        s.queued_jobs ? s.queued_jobs() : 0);
  gauge(out, "txmail_queue_ready_units", "Deliveries waiting for a connection.",
        s.ready_backlog ? s.ready_backlog() : 0);
  gauge(out, "txmail_queue_destinations",
        "Ready queues: destination sites with deliveries waiting, connections or a back-off.",
        s.ready_queues ? s.ready_queues() : 0);
  out +=
      "# HELP txmail_caught_exceptions_total Exceptions caught at a request's or coroutine's "
      "boundary (each is logged; the node goes on).\n"
      "# TYPE txmail_caught_exceptions_total counter\n";
  out += fmt::format("txmail_caught_exceptions_total {}\n", caught_failures());
  gauge(out, "txmail_spool_bytes", "Bytes the spool holds (files and memtables).",
        s.spool_bytes ? s.spool_bytes() : 0);
  gauge(out, "txmail_suppressions", "Entries on the suppression list.",
        s.suppressions ? s.suppressions() : 0);
  gauge(out, "txmail_event_log_backlog", "Events waiting for the event log's writer.",
        s.event_backlog ? s.event_backlog() : 0);
  inbound(out, s.inbound ? s.inbound() : InboundStats{});
  if (s.cluster_events != nullptr) {
    cluster_events(out, *s.cluster_events);
  }
  if (s.cluster_spool != nullptr) {
    cluster_spool(out, *s.cluster_spool);
  }
  if (s.webhooks) {
    const auto w = s.webhooks();
    auto counter = [&out](const char* name, const char* help, std::uint64_t v) {
      app::counter(out, name, help, v);
    };
    counter("txmail_webhook_posts_total", "Notification batches delivered (2xx).", w.posts);
    counter("txmail_webhook_breaker_trips_total",
            "Times an endpoint was paused by its circuit breaker (failures in a row).",
            w.breaker_trips);
    gauge(out, "txmail_webhook_endpoints_paused",
          "Endpoints paused or probed by their circuit breaker now.", w.endpoints_paused);
    counter("txmail_webhook_notifications_total", "Notifications delivered.", w.delivered);
    counter("txmail_webhook_refused_total",
            "Batches refused for good (301-308, 400-406, a refused target).", w.refused);
    counter("txmail_webhook_failures_total", "Attempts that failed and will be retried.",
            w.failures);
    counter("txmail_webhook_dead_total", "Batches that ran out of tries (dead letters).", w.dead);
    gauge(out, "txmail_webhook_retry_backlog", "Batches waiting for their next try.",
          w.retry_backlog);
    gauge(out, "txmail_webhook_dead_letters", "Dead letters kept for replay.", w.dead_letters);
    gauge(out, "txmail_webhook_lag_events", "Events in the log the dispatcher has not reached yet.",
          w.lag);
  }
  return out;
}

}  // namespace txmail::app
