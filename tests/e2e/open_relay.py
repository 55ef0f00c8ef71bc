"""Never an open relay: an unauthenticated client from an address no account allows cannot get
mail for an outside domain accepted on any listener, whatever it tries. The allow-listed
address and an authenticated client can (positive controls, so the test can fail)."""
from txmail_harness import *

ATTEMPTS = [
    ("MAIL FROM:<a@sender.test>", "RCPT TO:<victim@outside.test>"),
    ("MAIL FROM:<>", "RCPT TO:<victim@outside.test>"),
    ("MAIL FROM:<postmaster@txmail.test>", "RCPT TO:<victim@outside.test>"),
    ("MAIL FROM:<a@sender.test>", "RCPT TO:<@txmail.test:victim@outside.test>"),
    ("MAIL FROM:<a@sender.test>", 'RCPT TO:<"victim@outside.test"@txmail.test>'),
    ("MAIL FROM:<a@sender.test>", "RCPT TO:<victim%outside.test@txmail.test>"),
]


def send(d, line):
    d.send(line + "\r\n")
    return d.reply()


def attempt(tx, mode, helo, mail, rcpt):
    """One try on a fresh connection; nothing may be accepted for delivery."""
    d = Dialog(tx.ports[mode], implicit_tls=(mode == "submissions"))
    d.expect(220)
    d.cmd(f"{helo} attacker.test", 250)
    code, lines = send(d, mail)
    if mode == "relay":
        check(code == 250, f"relay: MAIL got {code} {lines}")
        code, lines = send(d, rcpt)
        check(code == 554 and lines[-1].startswith("5.7.1"), f"relay: {rcpt} got {code} {lines}")
    else:
        check(code == 530 and lines[-1].startswith("5.7.0"), f"{mode}: {mail} got {code} {lines}")
        code, lines = send(d, rcpt)
        check(code == 503, f"{mode}: {rcpt} got {code} {lines}")
    code, lines = send(d, "DATA")
    check(code in (503, 554), f"{mode}: DATA after refused recipients got {code} {lines}")
    d.send("BDAT 3 LAST\r\nabc")
    code, lines = d.reply()
    check(code in (503, 554), f"{mode}: BDAT after refused recipients got {code} {lines}")
    d.cmd("QUIT", 221)


with Txmail() as tx:
    for mode in ("relay", "submission", "submissions"):
        for helo in ("EHLO", "HELO"):
            for mail, rcpt in ATTEMPTS:
                attempt(tx, mode, helo, mail, rcpt)
    # STARTTLS does not make a stranger trusted either.
    d = Dialog(tx.ports["relay"])
    d.expect(220)
    d.cmd("EHLO attacker.test", 250)
    d.starttls()
    d.cmd("EHLO attacker.test", 250)
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<victim@outside.test>", 554, "5.7.1")
    d.cmd("QUIT", 221)
    # A wrong password gives nothing either.
    d = Dialog(tx.ports["submission"])
    d.expect(220)
    d.cmd("EHLO attacker.test", 250)
    d.starttls()
    d.cmd("EHLO attacker.test", 250)
    d.cmd("AUTH PLAIN " + auth_plain("alice", "guess"), 535, "5.7.8")
    d.cmd("MAIL FROM:<a@sender.test>", 530, "5.7.0")
    d.cmd("QUIT", 221)
    # Positive controls.
    d = relay_session(tx)
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<friend@outside.test>", 250, "2.1.5")
    d.cmd("DATA", 354)
    d.send("Subject: allowed\r\n\r\nok\r\n.\r\n")
    allowed = queued_id(d.expect(250, "2.0.0"))
    d.cmd("QUIT", 221)
    d = Dialog(tx.ports["relay"])
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.starttls()
    d.cmd("EHLO client.test", 250)
    d.cmd("AUTH PLAIN " + auth_plain("alice", PASSWORD), 235)
    d.cmd("MAIL FROM:<a@sender.test>", 250)
    d.cmd("RCPT TO:<friend@outside.test>", 250, "2.1.5")
    d.cmd("DATA", 354)
    d.send("Subject: authenticated\r\n\r\nok\r\n.\r\n")
    authed = queued_id(d.expect(250, "2.0.0"))
    d.cmd("QUIT", 221)
    tx.stop()
    check(sorted(j["job_id"] for j in tx.spool()) == sorted([allowed, authed]),
          "the spool holds something a stranger sent")
print("ok")
