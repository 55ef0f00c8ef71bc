"""Unknown and out-of-order commands get 500/503 with enhanced codes; too many errors end the
session with 421."""
from txmail_harness import *

with Txmail(smtp_settings="max_errors = 5") as tx:
    d = Dialog(tx.ports["relay"], source=ALLOWED_IP)
    d.expect(220)
    d.cmd("MAIL FROM:<a@sender.test>", 503, "5.5.1")  # before EHLO
    d.cmd("EHLO client.test", 250)
    d.cmd("FOO bar", 500, "5.5.1")
    d.cmd("RCPT TO:<b@rcpt.test>", 503, "5.5.1")  # before MAIL
    d.cmd("DATA", 503, "5.5.1")
    d.cmd("VRFY someone", 252, "2.5.0")
    d.cmd("HELP", 214, "2.0.0")
    d.cmd("NOOP", 250, "2.0.0")
    d.send("XYZZY\r\n")
    d.expect(500, "5.5.1", "fifth error")
    d.expect(421, "4.7.0", "too many errors")
    check(d.closed(), "session not closed after 421")
print("ok")
