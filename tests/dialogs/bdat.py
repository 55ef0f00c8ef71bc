"""CHUNKING (RFC 3030): BDAT chunks make one message, byte for byte, with no dot handling; a
BDAT without a transaction is read and refused so the session stays in step; BDAT 0 LAST
alone (an empty message) and a chunk with a NUL octet are refused with 550 5.6.0 (issue
harden-1)."""
from txmail_harness import *

with Txmail() as tx:
    d = relay_session(tx)
    check("CHUNKING" in d.cmd("EHLO client.test", 250), "CHUNKING not advertised")
    d.send(b"BDAT 5\r\nhello")
    d.expect(503, "5.5.1", "BDAT without MAIL")
    d.cmd("MAIL FROM:<a@sender.test> BODY=8BITMIME", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    part1 = b"Subject: chunked\r\n\r\n.leading dot stays\r\n"
    part2 = b"caf\xc3\xa9\r\n.\r\nstill the same message\r\n"
    # Pipelined: both chunks and the next command in one write.
    d.send(b"BDAT %d\r\n" % len(part1) + part1 + b"BDAT %d LAST\r\n" % len(part2) + part2 + b"NOOP\r\n")
    d.expect(250, "2.0.0", "first chunk")
    job = queued_id(d.expect(250, "2.0.0", "last chunk"))
    d.expect(250, "2.0.0", "NOOP after BDAT")
    d.cmd("DATA", 503, "5.5.1")  # the transaction is over
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    d.cmd("BDAT 0 LAST", 550, "5.6.0")
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<b@rcpt.test>", 250)
    nul = b"Subject: nul\r\n\r\na\x00b\r\n"
    d.send(b"BDAT %d LAST\r\n" % len(nul) + nul)
    d.expect(550, "5.6.0", "a NUL octet")
    d.cmd("QUIT", 221)
    tx.stop()
    msg = tx.message(job)
    # Every chunk's bytes, in order; the 8-bit body is stored converted to quoted-printable
    # (docs/delivery.md, "8-bit content").
    converted = (b"Subject: chunked\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 b"Content-Transfer-Encoding: quoted-printable\r\n\r\n.leading dot stays\r\ncaf=C3=A9\r\n.\r\n"
                 b"still the same message\r\n")
    check(msg.endswith(converted), f"BDAT message bytes: {msg[-80:]!r}")
    [j] = tx.spool()
    check(not j["eight_bit"], "the converted message is still flagged 8BITMIME")
print("ok")
