"""Dot handling (RFC 5321 section 4.5.2): a lone dot ends data and stuffed dots are unstuffed;
an empty message (a lone dot at once) is refused with 550 5.6.0 (issue harden-1: it has no
header a recipient could use; BDAT 0 LAST alike, tests/dialogs/bdat.py)."""
from txmail_harness import *

with Txmail() as tx:
    d = relay_session(tx)
    ids = []
    for wire, expected in [
        (b"Subject: dots\r\n\r\n..\r\n...leading\r\nmid.dle\r\n. space\r\n.\r\n",
         b"Subject: dots\r\n\r\n.\r\n..leading\r\nmid.dle\r\n space\r\n"),
        (b"Subject: x\r\n\r\n\r\n.\r\n", b"Subject: x\r\n\r\n\r\n"),
    ]:
        d.cmd("MAIL FROM:<a@sender.test>", 250)
        d.cmd("RCPT TO:<b@rcpt.test>", 250)
        d.cmd("DATA", 354)
        d.send(wire)
        ids.append((queued_id(d.expect(250, "2.0.0", repr(wire))), expected))
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    d.cmd("DATA", 354)
    d.send(b".\r\n")
    d.expect(550, "5.6.0", "an empty message")
    d.cmd("QUIT", 221)
    tx.stop()
    for job, expected in ids:
        msg = tx.message(job)
        check(msg.endswith(expected), f"{job}: got {msg[-60:]!r}, want suffix {expected!r}")
        # The trace headers come first; the client's bytes follow unchanged.
        check(msg.startswith(b"Received: from client.test ([127.0.0.2])"), "Received header first")
print("ok")
