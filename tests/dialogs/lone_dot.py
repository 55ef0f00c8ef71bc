"""Dot handling (RFC 5321 section 4.5.2): a lone dot ends data, stuffed dots are unstuffed,
and an empty message is possible."""
from txmail_harness import *

with Txmail() as tx:
    d = relay_session(tx)
    ids = []
    for wire, expected in [
        (b"Subject: dots\r\n\r\n..\r\n...leading\r\nmid.dle\r\n. space\r\n.\r\n",
         b"Subject: dots\r\n\r\n.\r\n..leading\r\nmid.dle\r\n space\r\n"),
        (b".\r\n", b""),
        (b"Subject: x\r\n\r\n\r\n.\r\n", b"Subject: x\r\n\r\n\r\n"),
    ]:
        d.cmd("MAIL FROM:<a@sender.test>", 250)
        d.cmd("RCPT TO:<b@rcpt.test>", 250)
        d.cmd("DATA", 354)
        d.send(wire)
        ids.append((queued_id(d.expect(250, "2.0.0", repr(wire))), expected))
    d.cmd("QUIT", 221)
    tx.stop()
    for job, expected in ids:
        msg = tx.message(job)
        check(msg.endswith(expected), f"{job}: got {msg[-60:]!r}, want suffix {expected!r}")
        # The trace headers come first; the client's bytes follow unchanged.
        check(msg.startswith(b"Received: from client.test ([127.0.0.2])"), "Received header first")
print("ok")
