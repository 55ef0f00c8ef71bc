"""GET /metrics (issue core-5, item 6): Prometheus text that python3-prometheus-client's parser
reads; its event counters agree with the events the log holds after REST and SMTP jobs with
delivered, bounced, deferred and dropped recipients; jobs are counted by interface; latency
histograms are cumulative and count what was accepted and delivered; no label names a domain
or an account."""
from prometheus_client.parser import text_string_to_metric_families
from txmail_harness import *


def scrape(tx):
    r = http(tx, "GET", "/metrics")
    check(r.status == 200 and r.headers["content-type"].startswith("text/plain"), f"{r}")
    families = {f.name: f for f in text_string_to_metric_families(r.body)}
    return families, r.body


sink = Sink("127.0.0.52", free_port())
try:
    delivery = (f'idle_connection = "200ms"\nretry_schedule = ["1s"]\nretry_every = "1s"\n'
                f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.52:{sink.port}"\n')
    with Txmail(delivery=delivery) as tx:
        families, _ = scrape(tx)
        check(families["txmail_events"].type == "counter", f"{families['txmail_events'].type}")
        check(all(s.value == 0 for s in families["txmail_events"].samples if s.name == "txmail_events_total"), "not zero")
        jobs = []
        for to in (["ok1@dest.test", "reject-a@dest.test"], ["later-b@dest.test", "bad@@x"]):
            r = http(tx, "POST", "/v2/jobs", {"subject": "m", "body": {"contentType": "text/plain", "content": "x"},
                                              "mail": {"from": {"email": "a@sender.test"}},
                                              "recipients": [{"mail": {"to": [{"email": t} for t in to]}}]}, user="alice")
            check(r.status == 202, f"{r}")
            jobs.append(r.json["jobId"])
        jobs.append(submit(tx, "a@sender.test", ["ok2@dest.test", "ok3@dest.test"], "Subject: s\r\n\r\nx\r\n"))
        for j in jobs:
            wait_for(f"{j} final", lambda: (lambda s: s.get("finished") and s)(http(tx, "GET", f"/v2/jobs/{j}", token=True).json))

        def seen_events():
            seen = {}
            for j in jobs:
                for e in events(tx, j, phase=None):
                    key = (e["phase"], e["type"], e["subType"])
                    seen[key] = seen.get(key, 0) + 1
            return seen
        want = {("DELIVER", "DELIVERED", "OK"): 4, ("DELIVER", "BOUNCED", "HARD_BOUNCE"): 1,
                ("DELIVER", "DEFERRED", "SOFT_BOUNCE"): 1, ("PRE_PROCESS", "DROPPED", "INVALID_ADDRESS"): 1}
        # A job is finished before its last events are in the log: wait for them.
        seen = wait_for("every event logged", lambda: (lambda s: all(s.get(k) == n for k, n in want.items()) and s)(
            seen_events()))

        def counted_events():
            counted = {}
            for s in scrape(tx)[0]["txmail_events"].samples:
                if s.name == "txmail_events_total":
                    counted[(s.labels["phase"], s.labels["type"], s.labels["subType"])] = int(s.value)
            return counted
        # The counters and the log agree (both read afresh: a late event moves both).
        counted = wait_for("the counters to match the log", lambda: (lambda c: {k: v for k, v in c.items() if v} == seen_events() and c)(
            counted_events()), timeout=10)
        families, text = scrape(tx)
        check(len(counted) == 15, f"the catalogue: {sorted(counted)}")
        by_if = {s.labels["interface"]: s.value for s in families["txmail_jobs_accepted"].samples
                 if s.name == "txmail_jobs_accepted_total"}
        check(by_if == {"smtp": 1, "rest": 2}, f"jobs by interface {by_if}")
        acc = families["txmail_acceptance_seconds"]
        check(acc.type == "histogram", acc.type)
        for interface, n in (("smtp", 1), ("rest", 2)):
            buckets = [s for s in acc.samples if s.name.endswith("_bucket") and s.labels["interface"] == interface]
            values = [s.value for s in buckets]
            check(values == sorted(values) and buckets[-1].labels["le"] == "+Inf" and values[-1] == n,
                  f"{interface} acceptance buckets {values}")
        delivered = [s for s in families["txmail_delivery_seconds"].samples if s.name == "txmail_delivery_seconds_count"]
        check(delivered[0].value == 4, f"delivery latency count {delivered}")
        gauges = {f.name: f.samples[0].value for f in families.values() if f.type == "gauge"}
        check(gauges["txmail_queue_jobs"] == 0 and gauges["txmail_spool_bytes"] > 0
              and gauges["txmail_suppressions"] == 1, f"gauges {gauges}")
        check({"txmail_webhook_retry_backlog", "txmail_webhook_dead_letters", "txmail_webhook_lag_events"} <= set(gauges),
              f"webhook gauges missing: {sorted(gauges)}")
        for f in families.values():
            for s in f.samples:
                check(not ({"domain", "account", "recipient", "job"} & set(s.labels)), f"a label that grows: {s}")
        check("dest.test" not in text and "alice" not in text, "a domain or account in the metrics")
finally:
    sink.stop()
print("ok")
