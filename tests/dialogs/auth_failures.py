"""Failed AUTH limits: after max_auth_failures on one connection, 535 then 421 and close; after
max_auth_failures_per_ip from one address, AUTH is refused even with good credentials."""
from txmail_harness import *

with Txmail(smtp_settings="max_auth_failures = 2\nmax_auth_failures_per_ip = 3") as tx:
    def tls_session():
        d = Dialog(tx.ports["submission"])
        d.expect(220)
        d.cmd("EHLO client.test", 250)
        d.starttls()
        d.cmd("EHLO client.test", 250)
        return d

    d = tls_session()
    d.cmd("AUTH PLAIN " + auth_plain("alice", "nope-1"), 535, "5.7.8")
    d.send("AUTH PLAIN " + auth_plain("alice", "nope-2") + "\r\n")
    d.expect(535, "5.7.8", "second failure")
    d.expect(421, "4.7.0", "per-connection limit")
    check(d.closed(), "not closed after too many AUTH failures")

    d = tls_session()
    d.cmd("AUTH PLAIN " + auth_plain("nobody", "nope-3"), 535, "5.7.8")
    # Three failures from 127.0.0.1 now: the right password is refused too, for a while.
    d.cmd("AUTH PLAIN " + auth_plain("alice", PASSWORD), 454, "4.7.0")
    d.close()

    # Another address is not affected.
    d = Dialog(tx.ports["submission"], source="127.0.0.3")
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.starttls()
    d.cmd("EHLO client.test", 250)
    d.cmd("AUTH PLAIN " + auth_plain("alice", PASSWORD), 235, "2.7.0")
    d.cmd("QUIT", 221)
print("ok")
