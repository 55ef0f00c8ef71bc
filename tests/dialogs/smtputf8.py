"""Internationalized addresses (RFC 6531): accepted with SMTPUTF8, refused 553 5.6.7 without."""
from txmail_harness import *

with Txmail() as tx:
    d = relay_session(tx)
    check("SMTPUTF8" in d.cmd("EHLO client.test", 250), "SMTPUTF8 not advertised")
    d.cmd("MAIL FROM:<jos\u00e9@sender.test>", 553, "5.6.7")
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<\u7528\u6237@\u4f8b\u5b50.test>", 553, "5.6.7")
    d.cmd("RSET", 250)
    d.cmd("MAIL FROM:<jos\u00e9@sender.test> SMTPUTF8", 250)
    d.cmd("RCPT TO:<\u7528\u6237@\u4f8b\u5b50.test>", 250)
    d.cmd("DATA", 354)
    d.send("Subject: \u4f60\u597d\r\n\r\n\u00e9t\u00e9\r\n.\r\n".encode())
    job = queued_id(d.expect(250, "2.0.0"))
    d.cmd("QUIT", 221)
    tx.stop()
    [j] = tx.spool()
    check(j["job_id"] == job and j["smtputf8"], "SMTPUTF8 flag")
    check(j["sender"] == "jos\u00e9@sender.test", "UTF-8 sender kept")
    check(j["recipients"][0]["address"] == "\u7528\u6237@\u4f8b\u5b50.test", "UTF-8 recipient kept")
print("ok")
