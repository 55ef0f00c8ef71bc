"""A domain whose MX hosts have no address for different reasons (found by a review of the
delivery path): one host's lookup fails for now (SERVFAIL), the other's name does not exist
(NXDOMAIN). The domain may be reachable once the first answers, so the recipient is DEFERRED,
never BOUNCED; the old code kept the last host's error, and bounced when the NXDOMAIN came last.
A domain whose every MX host is NXDOMAIN is still a bounce."""
from txmail_harness import *

ZONE = """$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
mixed IN MX 10 mx.servfail.test.
mixed IN MX 20 gone.mixed.test.
nowhere IN MX 10 gone.nowhere.test.
"""

with DnsServer(ZONE) as dns:
    with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', delivery=f'mx_port = {free_port()}\n') as tx:
        mixed = submit(tx, "a@sender.test", ["ann@mixed.test"], "Subject: mixed\r\n\r\nx\r\n")
        nowhere = submit(tx, "a@sender.test", ["bo@nowhere.test"], "Subject: nowhere\r\n\r\nx\r\n")
        bounced = wait_for("the all-NXDOMAIN domain bounced", lambda: events(tx, nowhere, type="BOUNCED"), timeout=60)
        print(f"nowhere.test: BOUNCED: {bounced[0].get('reply')!r}")
        deferred = wait_for("the mixed domain deferred", lambda: events(tx, mixed, type="DEFERRED"), timeout=60)
        print(f"mixed.test: DEFERRED: {deferred[0].get('reply')!r}")
        check(not events(tx, mixed, type="BOUNCED"), f"mixed.test bounced: {events(tx, mixed)}")
print("ok")
