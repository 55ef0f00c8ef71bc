"""The sender domain policy (issue core-3, items 2 and 3): an account sends only from its own
registered and verified domains; another account's domain is refused and its keys are never
used; an account allowed to send unverified gets unregistered domains through unsigned, and the
job says so in a PROCESS event; the signing domain is the header From's, else the envelope
sender's; a message with two From fields is refused; a key rotation moves signing to the new
selector once its record verifies, the old key retiring but staying published."""
import json
import subprocess
import dkim as pydkim
from txmail_harness import *
from dkim_check import txt_lookup

ACCOUNTS = (f'[[account]]\nname = "strict"\npassword = "{PASSWORD}"\n\n'
            f'[[account]]\nname = "loose"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\n')



def msg(from_header, subject="policy"):
    head = f"From: {from_header}\r\n" if from_header else ""
    return head + f"To: c@dest.test\r\nSubject: {subject}\r\n\r\nbody\r\n"


def signatures(raw):
    return [(pydkim.util.parse_tag_value(v)[b"d"].decode(), pydkim.util.parse_tag_value(v)[b"s"].decode())
            for k, v in pydkim.DKIM(raw).headers if k.lower() == b"dkim-signature"]


with DnsServer(txt_zone([])) as dns:
    with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n[publish]\nzone = "svc.test"\n', accounts=ACCOUNTS) as tx:
        strict = cli(tx, "domain", "add", "strict.test", "--account", "strict")
        cli(tx, "domain", "add", "loose.test", "--account", "loose")
        out = cli(tx, "domain", "add", "strict.test", "--account", "loose", ok=False)
        check(out.returncode == 1 and "already registered" in out.stderr, f"second registration: {out.stderr}")
        out = cli(tx, "domain", "add", "x.test", "--account", "nobody", ok=False)
        check(out.returncode == 1 and "does not exist" in out.stderr, f"unknown account: {out.stderr}")
        out = cli(tx, "domain", "add", "bad_name", "--account", "strict", ok=False)
        check(out.returncode == 1 and "not a valid domain" in out.stderr, f"bad name: {out.stderr}")

        # Strict: unregistered, another account's, and not yet verified domains are refused.
        for sender, why in (("a@unknown.test", "not registered"), ("a@loose.test", "not registered"),
                            ("a@strict.test", "not verified")):
            code, text, _ = submit_as(tx, "strict", sender, ["c@dest.test"], msg(sender))
            check(code == 550 and text.startswith("5.7.1") and why in text, f"{sender}: {code} {text}")
        # Two From fields: refused whoever sends.
        code, text, _ = submit_as(tx, "loose", "a@loose.test", ["c@dest.test"],
                                  "From: a@loose.test\r\nFrom: b@loose.test\r\nSubject: two\r\n\r\nx\r\n")
        check(code == 550 and text.startswith("5.6.0"), f"two From fields: {code} {text}")

        # Loose: an unregistered domain goes unsigned, with a PROCESS event saying so; a domain of
        # another account too (its key is not used); its own domain is signed even unverified.
        code, text, job = submit_as(tx, "loose", "a@unknown.test", ["c@dest.test"], msg("a@unknown.test"))
        check(code == 250, f"loose account refused: {code} {text}")
        check(signatures(tx.message(job)) == [], "an unregistered domain was signed")
        # Events of a job taken over SMTP reach the log just after its 250.
        evs = wait_for("the PROCESS event", lambda: events(tx, job, phase="PROCESS", type="PROCESSED"))
        check(len(evs) == 1 and evs[0]["type"] == "PROCESSED" and evs[0]["subType"] == "PROCESSING_FINISHED"
              and "not DKIM-signed: sender domain unknown.test is not registered" in evs[0]["reply"], f"{evs}")
        code, text, job = submit_as(tx, "loose", "a@loose.test", ["c@dest.test"], msg("x@strict.test"))
        check(code == 250 and signatures(tx.message(job)) == [], "another account's key was used")
        evs = wait_for("the PROCESS event", lambda: events(tx, job, phase="PROCESS", type="PROCESSED"))
        check("belongs to another account" in evs[0]["reply"], "event for another account")
        code, text, job = submit_as(tx, "loose", "a@loose.test", ["c@dest.test"], msg("Shop <news@Loose.Test>"))
        check(code == 250 and signatures(tx.message(job)) == [("loose.test", "txm1")], "own domain unsigned")
        check(events(tx, job, phase="PROCESS", type="PROCESSED") == [], "a signed job needs no PROCESS event")
        # No From field: the envelope sender's domain signs.
        code, text, job = submit_as(tx, "loose", "bounce@loose.test", ["c@dest.test"], msg(None))
        check(code == 250 and signatures(tx.message(job)) == [("loose.test", "txm1")], "envelope fallback")

        # Verification makes the strict domain usable.
        records = [(r["name"], r["value"]) for r in strict["records"] if r["purpose"] != "dmarc"]
        dns.update(txt_zone(records))
        verified = cli(tx, "domain", "verify", "strict.test")
        statuses = {r["purpose"]: r["status"] for r in verified["records"]}
        check(verified["verified"] and statuses == {"spf": "ok", "dkim": "ok", "dmarc": "missing"}, f"{verified}")
        code, text, job = submit_as(tx, "strict", "a@strict.test", ["c@dest.test"], msg("a@strict.test"))
        check(code == 250 and signatures(tx.message(job)) == [("strict.test", "txm1")], f"{code} {text}")
        first = tx.message(job)
        # Once verified by strict, strict.test is refused to every other account, even one that
        # may send unverified domains unsigned (issue harden-1: tenant isolation).
        code, text, job = submit_as(tx, "loose", "a@loose.test", ["c@dest.test"], msg("x@strict.test"))
        check(code == 550 and text.startswith("5.7.1") and "verified by another account" in text,
              f"another account's verified domain: {code} {text}")
        r = http(tx, "POST", "/v2/jobs", {"subject": "x", "body": {"contentType": "text/plain", "content": "x"},
                                          "mail": {"from": {"email": "x@strict.test"}},
                                          "recipients": [{"mail": {"to": [{"email": "c@dest.test"}]}}]},
                 user="loose")
        check(r.status in (403, 422) and "verified by another account" in r.body, f"REST: {r}")

        # Rotation: a pending txm2 while txm1 still signs; its record verifies; txm2 signs.
        rotated = cli(tx, "dkim", "rotate", "strict.test")
        check([(k["selector"], k["state"]) for k in rotated["keys"]] == [("txm1", "active"), ("txm2", "pending")],
              f"{rotated['keys']}")
        out = cli(tx, "dkim", "rotate", "strict.test", ok=False)
        check(out.returncode == 1 and "already pending" in out.stderr, f"second rotation: {out.stderr}")
        code, text, job = submit_as(tx, "strict", "a@strict.test", ["c@dest.test"], msg("a@strict.test"))
        check(signatures(tx.message(job)) == [("strict.test", "txm1")], "the pending key signed")
        new_key = [k for k in rotated["keys"] if k["selector"] == "txm2"][0]
        dns.update(txt_zone(records + [("txm2._domainkey.strict.test", new_key["dns_record"])]))
        after = cli(tx, "domain", "verify", "strict.test")
        check([(k["selector"], k["state"]) for k in after["keys"]] == [("txm1", "retired"), ("txm2", "active")],
              f"{after['keys']}")
        check(after["verified"], "rotation lost verification")
        code, text, job = submit_as(tx, "strict", "a@strict.test", ["c@dest.test"], msg("a@strict.test"))
        second = tx.message(job)
        check(signatures(second) == [("strict.test", "txm2")], f"after rotation: {signatures(second)}")
        # Both verify: the retired key's record stays during its grace period.
        for raw in (first, second):
            check(pydkim.verify(raw, dnsfunc=txt_lookup(dns.port)), "a signature does not verify")
        shown = cli(tx, "domain", "show", "strict.test")
        check(shown["keys"][0]["retire_at_ms"] > shown["keys"][1]["activated_ms"], "no grace period")

        # An RSA key under 2048 bits is refused at import.
        weak = os.path.join(tx.dir, "weak.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", weak],
                       check=True, capture_output=True)
        out = subprocess.run([TXMAIL, "dkim", "import", "loose.test", "--key", weak, "--config", tx.config],
                             capture_output=True, text=True)
        check(out.returncode == 1 and "under 2048 bits" in out.stderr, f"weak import: {out.stderr}")
print("ok")
