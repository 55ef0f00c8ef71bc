"""Size limits (RFC 1870): SIZE= over the limit is refused at MAIL; data over the limit is
refused at the end of DATA and at the BDAT chunk that crosses it, 552 5.3.4 each time."""
from txmail_harness import *

with Txmail(smtp_settings='max_message_size = "2KB"') as tx:
    d = relay_session(tx)
    caps = d.cmd("EHLO client.test", 250)
    check("SIZE 2048" in caps, f"SIZE not advertised: {caps}")
    d.cmd("MAIL FROM:<a@sender.test> SIZE=4096", 552, "5.3.4")
    d.cmd("MAIL FROM:<a@sender.test> SIZE=100", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    d.cmd("DATA", 354)
    d.send("Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 40 + ".\r\n")
    d.expect(552, "5.3.4", "DATA over size")
    # BDAT: the chunk that crosses the limit is refused; later chunks are read and discarded.
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    d.send(b"BDAT 1500\r\n" + b"y" * 1498 + b"\r\n")
    d.expect(250, "2.0.0", "BDAT 1")
    d.send(b"BDAT 1500\r\n" + b"z" * 1498 + b"\r\n")
    d.expect(552, "5.3.4", "BDAT 2")
    d.send(b"BDAT 10 LAST\r\n" + b"0123456789")
    d.expect(503, "5.5.1", "BDAT after failure")
    # Within the limit, still fine afterwards.
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    d.cmd("DATA", 354)
    d.send("Subject: small\r\n\r\nok\r\n.\r\n")
    job = queued_id(d.expect(250, "2.0.0", "small message"))
    d.cmd("QUIT", 221)
    tx.stop()
    check([j["job_id"] for j in tx.spool()] == [job], "only the small message is spooled")
print("ok")
