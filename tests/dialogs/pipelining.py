"""PIPELINING (RFC 2920): a whole transaction in one write gets every reply, in order."""
from txmail_harness import *

with Txmail() as tx:
    d = submission_session(tx)
    d.send("MAIL FROM:<a@sender.test>\r\nRCPT TO:<b@rcpt.test>\r\nRCPT TO:<bad address>\r\n"
           "RCPT TO:<c@rcpt.test>\r\nDATA\r\n")
    d.expect(250, "2.1.0", "MAIL")
    d.expect(250, "2.1.5", "RCPT b")
    d.expect(501, "5.1.3", "RCPT bad")
    d.expect(250, "2.1.5", "RCPT c")
    d.expect(354, None, "DATA")
    # The message, the next transaction and QUIT, all in one go.
    d.send("Subject: one\r\n\r\nfirst\r\n.\r\nMAIL FROM:<a@sender.test>\r\nRCPT TO:<d@rcpt.test>\r\n"
           "DATA\r\nSubject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
    first = queued_id(d.expect(250, "2.0.0", "end of first"))
    d.expect(250, "2.1.0", "MAIL 2")
    d.expect(250, "2.1.5", "RCPT 2")
    d.expect(354, None, "DATA 2")
    second = queued_id(d.expect(250, "2.0.0", "end of second"))
    d.expect(221, "2.0.0", "QUIT")
    check(d.closed(), "connection not closed after QUIT")
    tx.stop()
    jobs = {j["job_id"]: j for j in tx.spool()}
    check(set(jobs) == {first, second}, f"spool holds {list(jobs)}")
    check([r["address"] for r in jobs[first]["recipients"]] == ["b@rcpt.test", "c@rcpt.test"], "recipients of first")
    check(tx.message(first).endswith(b"Subject: one\r\n\r\nfirst\r\n"), "first message bytes")
    check(tx.message(second).endswith(b"Subject: two\r\n\r\nsecond\r\n"), "second message bytes")
print("ok")
