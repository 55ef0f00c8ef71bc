"""The MX walk (RFC 5321 section 5.1, RFC 7505): the first MX down, the second gets the mail;
a domain without MX is delivered to its A record; a null MX and a domain that does not exist
bounce at once, without any connection."""
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
fallback IN MX 10 mx1.fallback.test.
fallback IN MX 20 mx2.fallback.test.
mx1.fallback IN A 127.0.0.31
mx2.fallback IN A 127.0.0.32
nomx IN A 127.0.0.33
nullmx IN MX 0 .
"""

mx2 = Sink("127.0.0.32", PORT)
implicit = Sink("127.0.0.33", PORT)
try:
    with DnsServer(ZONE) as dns:
        delivery = f'mx_port = {PORT}\nidle_connection = "100ms"\nconnect_timeout = "2s"\n'
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', delivery=delivery) as tx:
            body = "Subject: walk\r\n\r\nhello\r\n"
            j1 = submit(tx, "a@sender.test", ["user@fallback.test"], body)
            j2 = submit(tx, "a@sender.test", ["user@nomx.test"], body)
            j3 = submit(tx, "a@sender.test", ["user@nullmx.test"], body)
            j4 = submit(tx, "a@sender.test", ["user@nowhere.test"], body)
            wait_for("delivery via the second MX", lambda: mx2.messages())
            wait_for("delivery to the A record", lambda: implicit.messages())
            check(mx2.messages()[0]["rcpt_tos"] == ["user@fallback.test"], "second MX got the wrong mail")
            check(implicit.messages()[0]["rcpt_tos"] == ["user@nomx.test"], "A record host got the wrong mail")
            e1 = wait_for("events of j1", lambda: events(tx, j1))
            check(e1[-1]["type"] == "DELIVERED" and e1[-1]["remoteHost"] == "mx2.fallback.test[127.0.0.32]", f"{e1}")
            e3 = wait_for("events of j3", lambda: events(tx, j3))
            check(e3 == [e for e in e3 if e["subType"] == "HARD_BOUNCE"] and "null MX" in e3[0]["reply"], f"null MX {e3}")
            e4 = wait_for("events of j4", lambda: events(tx, j4))
            check(e4[0]["subType"] == "HARD_BOUNCE" and "no such domain" in e4[0]["reply"], f"NXDOMAIN {e4}")
            check(len(mx2.messages()) == 1 and len(implicit.messages()) == 1, "duplicates delivered")
finally:
    mx2.stop()
    implicit.stop()
print("ok")
