"""Fairness across tenants (issue deliver-2): account A queues 50,000 messages to one slow
destination (its MX takes half a second per message); then account B sends 10 messages to
another destination. B's must not wait behind A's flood: a destination holds at most its own
connection limit of the source's slots, and the source's free slots go to whichever
destination waits for one. Prints how long B's messages took."""
import time
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 300
@ IN SOA ns.test. admin.test. 1 3600 600 86400 300
slow IN MX 10 mx.slow.test.
mx.slow IN A 127.0.0.81
fast IN MX 10 mx.fast.test.
mx.fast IN A 127.0.0.82
"""
FLOOD = 50_000
BOUND_S = 10.0

slow = Sink("127.0.0.81", PORT, delay=0.5)
fast = Sink("127.0.0.82", PORT)
try:
    with DnsServer(ZONE) as dns:
        delivery = f'mx_port = {PORT}\nmax_connections_per_source = 20\nmax_connections_per_site = 10\n'
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n[api]\nmax_job_size = 100000000\n',
                    delivery=delivery, http_settings="max_body = 10000000") as tx:
            start = time.time()
            for i in range(0, FLOOD, 1000):
                r = http(tx, "POST", "/v2/jobs",
                         {"subject": {"content": "flood"}, "body": {"contentType": "text/plain", "content": "x"},
                          "mail": {"from": {"email": "a@flood.test"}},
                          "recipients": [{"mail": {"to": [{"email": f"u{i + k}@slow.test"}]}} for k in range(1000)]},
                         user="alice")
                check(r.status == 202, f"flood job refused: {r}")
            wait_for("the flood reaching the slow MX", lambda: slow.count() >= 10, timeout=60)

            def gauge(name):
                text = http(tx, "GET", "/metrics").body
                return int(float(next(l.split()[1] for l in text.splitlines() if l.startswith(name + " "))))

            queued = wait_for("the flood in the ready queue", lambda: gauge("txmail_queue_ready_units") >= FLOOD - 1000
                              and gauge("txmail_queue_ready_units"), timeout=120)
            print(f"A queued {FLOOD} messages to slow.test in {time.time() - start:.1f}s; "
                  f"{queued} wait for a connection")

            sent = time.time()
            for i in range(10):
                submit(tx, "reset@b.test", [f"b{i}@fast.test"], f"Subject: reset {i}\r\n\r\nyour code\r\n")
            wait_for("B's 10 messages", lambda: fast.count() >= 10, timeout=120)
            took = time.time() - sent
            done_at_slow = slow.count()
            stats = slow.stats()
            print(f"B's 10 messages delivered {took:.2f}s after submission while A's flood waited "
                  f"({done_at_slow} of {FLOOD} done, slow MX at most {stats['max_connections']} connections)")
            check(took < BOUND_S, f"B waited {took:.1f}s behind A's flood (bound {BOUND_S}s)")
            check(done_at_slow < FLOOD, "the flood was over before B sent: fairness not exercised")
            check(stats["max_connections"] <= 10, f"slow MX saw {stats['max_connections']} connections")
finally:
    slow.stop()
    fast.stop()
print("ok")
