"""Idle timeout (RFC 5321 section 4.5.3.2): a silent client gets 421 4.4.2 and is closed, both
waiting for a command and in the middle of message data."""
import time
from txmail_harness import *

with Txmail(smtp_settings='command_timeout = "1s"\ndata_timeout = "1s"') as tx:
    d = relay_session(tx)
    start = time.time()
    d.expect(421, "4.4.2", "idle waiting for a command")
    check(d.closed(), "not closed after timeout")
    check(time.time() - start < 8, "timeout took too long")
    d = relay_session(tx)
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    d.cmd("DATA", 354)
    d.send("Subject: stalled\r\n\r\nhalf a mess")
    d.expect(421, "4.4.2", "idle in DATA")
    check(d.closed(), "not closed after data timeout")
    tx.stop()
    check(tx.spool() == [], "a stalled message was spooled")
print("ok")
