"""AUTH is offered and accepted only over TLS (RFC 4954 section 4); submission wants AUTH
before MAIL."""
from txmail_harness import *

with Txmail() as tx:
    d = Dialog(tx.ports["submission"])
    d.expect(220)
    caps = d.cmd("EHLO client.test", 250)
    check(not any(c.startswith("AUTH") for c in caps), f"AUTH offered in clear text: {caps}")
    check("STARTTLS" in caps, f"STARTTLS not offered: {caps}")
    d.cmd("AUTH PLAIN " + auth_plain("alice", PASSWORD), 538, "5.7.11")
    d.cmd("AUTH LOGIN", 538, "5.7.11")
    d.cmd("MAIL FROM:<a@sender.test>", 530, "5.7.0")
    d.starttls()
    caps = d.cmd("EHLO client.test", 250)
    check("AUTH PLAIN LOGIN" in caps, f"AUTH not offered after TLS: {caps}")
    check("STARTTLS" not in caps, "STARTTLS offered twice")
    d.cmd("MAIL FROM:<a@sender.test>", 530, "5.7.0")
    d.cmd("AUTH PLAIN " + auth_plain("alice", PASSWORD), 235, "2.7.0")
    d.cmd("MAIL FROM:<a@sender.test>", 250, "2.1.0")
    d.cmd("QUIT", 221)
print("ok")
