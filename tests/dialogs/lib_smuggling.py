"""SMTP smuggling: a fake end of data followed by a second, injected transaction. The whole
thing must be one refused message: no 250 for the injected transaction, nothing spooled."""
from txmail_harness import *


def smuggle(fake_end):
    with Txmail() as tx:
        d = relay_session(tx)
        d.cmd("MAIL FROM:<a@sender.test>", 250)
        d.cmd("RCPT TO:<b@rcpt.test>", 250)
        d.cmd("DATA", 354)
        d.send(b"Subject: outer\r\n\r\nhello" + fake_end +
               b"MAIL FROM:<ceo@victim.test>\r\nRCPT TO:<b@rcpt.test>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
        d.expect(550, "5.6.0", "message with " + repr(fake_end))
        # The session goes on normally, and nothing of the injected text ran as commands.
        d.cmd("NOOP", 250, "2.0.0")
        d.cmd("QUIT", 221)
        tx.stop()
        jobs = tx.spool()
        check(jobs == [], f"smuggled variant {fake_end!r} spooled {jobs}")
    print("ok")
