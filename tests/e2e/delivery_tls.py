"""Outbound STARTTLS: to a TLS-capable MX it is really negotiated (in the event and at the
MX); with `tls = "required"` for a domain whose MX has no TLS, the mail is deferred and never
sent in clear text."""
import time
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
secure IN MX 10 mx.secure.test.
mx.secure IN A 127.0.0.41
plain IN MX 10 mx.plain.test.
mx.plain IN A 127.0.0.42
"""

cert_dir = tempfile.mkdtemp()
tls_sink = Sink("127.0.0.41", PORT, tls=self_signed(cert_dir))
plain_sink = Sink("127.0.0.42", PORT)
try:
    with DnsServer(ZONE) as dns:
        delivery = (f'mx_port = {PORT}\nidle_connection = "100ms"\nretry_schedule = ["1s"]\nretry_every = "1s"\n'
                    '[[delivery.policy]]\ndomain = "plain.test"\ntls = "required"\n')
        # Every deferral is an event here ([notifications] deferred_every = 1): the test counts them.
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n[notifications]\ndeferred_every = 1\n',
                    delivery=delivery) as tx:
            j1 = submit(tx, "a@sender.test", ["user@secure.test"], "Subject: tls\r\n\r\nsecret\r\n")
            j2 = submit(tx, "a@sender.test", ["user@plain.test"], "Subject: must not go in clear\r\n\r\nx\r\n")
            [m] = wait_for("delivery over TLS", lambda: tls_sink.messages())
            check(m["tls"] is not None and m["tls"].startswith("TLSv1."), f"the MX saw no TLS: {m['tls']}")
            e1 = wait_for("events of j1", lambda: events(tx, j1))
            check(e1[0]["type"] == "DELIVERED" and e1[0]["tls"].startswith("TLSv1."), f"event without TLS: {e1}")
            e2 = wait_for("two deferrals of j2", lambda: (lambda e: len(e) >= 2 and e)(events(tx, j2)))
            check(all(e["type"] == "DEFERRED" for e in e2), f"{e2}")
            check("does not offer STARTTLS" in e2[0]["reply"], f"{e2[0]}")
            check(plain_sink.messages() == [], "mail went to the plain MX in clear text")
finally:
    tls_sink.stop()
    plain_sink.stop()
print("ok")
