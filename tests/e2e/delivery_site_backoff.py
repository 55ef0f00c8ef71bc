"""A destination site that refuses service is backed off as a whole: with ten messages waiting
for an MX that answers every connection with 421, it is asked once, and every recipient is
deferred with that answer, instead of ten connections (or more) knocking recipient by
recipient."""
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
busy IN MX 10 mx.busy.test.
mx.busy IN A 127.0.0.81
"""

server = RefusingServer("127.0.0.81", PORT, b"421 4.3.2 mx.busy.test overloaded, try later\r\n")
connections = server.connections
try:
    with DnsServer(ZONE) as dns:
        delivery = (f'mx_port = {PORT}\nretry_schedule = ["1h"]\n'
                    '[[delivery.policy]]\ndomain = "busy.test"\nmax_connections = 1\n')
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', delivery="paused = false\n" + delivery) as tx:
            jobs = [submit(tx, "a@sender.test", [f"r{i}@busy.test"], f"Subject: {i}\r\n\r\nx\r\n") for i in range(10)]
            deferred = wait_for("every recipient deferred", lambda: (lambda evs: len(evs) == 10 and evs)(
                [e for j in jobs for e in events(tx, j)]))
            check(all(e["type"] == "DEFERRED" and "421" in e["reply"] for e in deferred), f"{deferred[:2]}")
            # Nothing is waiting for a connection any more (the next try is an hour away): no
            # further connection can be opened, so the count below is final.
            wait_for("the queue idle", lambda: metric(tx, "txmail_queue_ready_units") == 0)
            check(1 <= len(connections) <= 2, f"{len(connections)} connections to a site that refuses service")
            print(f"connections={len(connections)} deferred={len(deferred)}")
finally:
    server.stop()
print("ok")
