"""Recipient limit: past max_recipients, RCPT gets 452 4.5.3 and the message goes to the ones
accepted (RFC 5321 section 4.5.3.1.10)."""
from txmail_harness import *

with Txmail(smtp_settings="max_recipients = 3") as tx:
    d = relay_session(tx)
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    for i in range(3):
        d.cmd(f"RCPT TO:<r{i}@rcpt.test>", 250, "2.1.5")
    d.cmd("RCPT TO:<r3@rcpt.test>", 452, "4.5.3")
    d.cmd("RCPT TO:<r4@rcpt.test>", 452, "4.5.3")
    d.cmd("DATA", 354)
    d.send("Subject: three\r\n\r\nhi\r\n.\r\n")
    job = queued_id(d.expect(250, "2.0.0"))
    d.cmd("QUIT", 221)
    tx.stop()
    [j] = tx.spool()
    check(j["job_id"] == job, "job id")
    check([r["address"] for r in j["recipients"]] == ["r0@rcpt.test", "r1@rcpt.test", "r2@rcpt.test"],
          f"recipients {j['recipients']}")
    check(all(r["mail_id"].startswith(job + "#00000000#") for r in j["recipients"]), "mail ids")
print("ok")
