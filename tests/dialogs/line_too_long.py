"""Lines over 1000 octets: a command line gets 500 5.5.2 and the session goes on; a message
line over the limit makes the message refused (550 5.6.0)."""
from txmail_harness import *

with Txmail() as tx:
    d = relay_session(tx)
    d.cmd("NOOP " + "x" * 1200, 500, "5.5.2")
    d.cmd("MAIL FROM:<a@sender.test> " + "X" * 5000, 500, "5.5.2")
    # A huge line with no end in sight: answered once it ends, never buffered whole.
    d.send("NOOP " + "y" * 200000 + "\r\n")
    d.expect(500, "5.5.2", "200 KB line")
    d.cmd("NOOP", 250)
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    d.cmd("DATA", 354)
    d.send("Subject: long\r\n\r\n" + "z" * 998 + "\r\n" + "w" * 999 + "\r\n.\r\n")
    d.expect(550, "5.6.0", "999-octet text line")
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    d.cmd("DATA", 354)
    d.send("Subject: exactly the limit\r\n\r\n" + "z" * 998 + "\r\n.\r\n")
    job = queued_id(d.expect(250, "2.0.0", "998-octet line"))
    d.cmd("QUIT", 221)
    tx.stop()
    check([j["job_id"] for j in tx.spool()] == [job], "only the compliant message is spooled")
print("ok")
