"""Politeness: a destination limited to 2 connections never sees a third (counted at the MX),
though 30 messages wait; a destination limited to 10 messages per second receives them at that
rate within 10%."""
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
narrow IN MX 10 mx.narrow.test.
mx.narrow IN A 127.0.0.61
slow IN MX 10 mx.slow.test.
mx.slow IN A 127.0.0.62
"""

narrow = Sink("127.0.0.61", PORT, delay=0.1)
slow = Sink("127.0.0.62", PORT)
try:
    with DnsServer(ZONE) as dns:
        delivery = (f'mx_port = {PORT}\nidle_connection = "300ms"\nmax_messages_per_connection = 5\n'
                    '[[delivery.policy]]\ndomain = "narrow.test"\nmax_connections = 2\n'
                    '[[delivery.policy]]\ndomain = "slow.test"\nrate = 10\n')
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', delivery=delivery) as tx:
            for i in range(30):
                submit(tx, "a@sender.test", [f"n{i}@narrow.test"], f"Subject: n{i}\r\n\r\nx\r\n")
            # slow.test's mail is held while it is submitted (a slow build submits at about the
            # rate being measured), then all of it is due at once.
            paused = http(tx, "POST", "/v2/admin/queues/pause", {"domain": "slow.test"}, token=True)
            check(paused.status == 200, f"pause: {paused}")
            for i in range(40):
                submit(tx, "a@sender.test", [f"s{i}@slow.test"], f"Subject: s{i}\r\n\r\nx\r\n")
            wait_for("slow.test's 40 messages held", lambda: sum(
                w["held"] for w in http(tx, "GET", "/v2/admin/queues", token=True).json["waiting"]
                if w["domain"] == "slow.test") == 40)
            resumed = http(tx, "POST", "/v2/admin/queues/resume", {"domain": "slow.test"}, token=True)
            check(resumed.status == 200 and resumed.json["broughtForward"] == 40, f"resume: {resumed}")
            wait_for("30 messages at the narrow MX", lambda: len(narrow.messages()) == 30, timeout=60)
            stats = narrow.stats()
            check(stats["max_connections"] <= 2, f"the narrow MX saw {stats['max_connections']} connections at once")
            check(stats["max_connections"] == 2, "never two connections at once: the limit was not exercised")
            got = wait_for("40 messages at the slow MX", lambda: len(slow.messages()) == 40 and slow.messages(),
                           timeout=60)
            times = sorted(m["time"] for m in got)
            rate = (len(times) - 1) / (times[-1] - times[0])
            check(9.0 <= rate <= 11.0, f"rate {rate:.2f}/s, want 10/s within 10%")
            print(f"narrow max connections={stats['max_connections']} slow rate={rate:.2f}/s")
finally:
    narrow.stop()
    slow.stop()
print("ok")
