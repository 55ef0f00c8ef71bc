"""Background verification (issue core-3, item 4): nobody runs `txmail domain verify`; the node
finds the records once they are published, the domain becomes verified and its first key
active, and a rotation completes the same way once the new selector's record appears; the
retired key is dropped after its grace period."""
from txmail_harness import *

ACCOUNTS = f'[[account]]\nname = "shop"\npassword = "{PASSWORD}"\n'



with DnsServer(txt_zone([], ttl=1)) as dns:  # 1 s: "no such name" is not cached past the next check
    extra = (f'[dns]\nservers = ["{dns.address}"]\n[publish]\nzone = "svc.test"\n'
             '[dkim]\nverify_interval = "1s"\nrotation_grace = "3s"\n')
    with Txmail(extra=extra, accounts=ACCOUNTS) as tx:
        added = cli(tx, "domain", "add", "auto.test", "--account", "shop")
        # Two background checks find nothing.
        wait_for("two checks", lambda: tx.log_text().count("checked domain=auto.test verified=false") >= 2)
        check(not cli(tx, "domain", "show", "auto.test")["verified"], "verified without records")
        records = [(r["name"], r["value"]) for r in added["records"] if r["purpose"] != "dmarc"]
        dns.update(txt_zone(records, ttl=1))
        shown = wait_for("background verification",
                         lambda: (lambda d: d["verified"] and d)(cli(tx, "domain", "show", "auto.test")), timeout=20)
        check(shown["keys"][0]["state"] == "active", f"{shown['keys']}")
        code, text, job = submit_as(tx, "shop", "a@auto.test", ["c@dest.test"], "From: a@auto.test\r\nSubject: s\r\n\r\nx\r\n")
        check(code == 250 and b"d=auto.test; s=txm1;" in tx.message(job), f"{code} {text}")

        rotated = cli(tx, "dkim", "rotate", "auto.test")
        new_key = [k for k in rotated["keys"] if k["selector"] == "txm2"][0]
        dns.update(txt_zone(records + [("txm2._domainkey.auto.test", new_key["dns_record"])], ttl=1))
        after = wait_for("rotation to complete",
                         lambda: (lambda d: [k["state"] for k in d["keys"]] == ["retired", "active"] and d)(
                             cli(tx, "domain", "show", "auto.test")), timeout=20)
        # The retired key leaves once its 3 s grace is over.
        wait_for("retired key to go", lambda: [k["selector"] for k in cli(tx, "domain", "show", "auto.test")["keys"]]
                 == ["txm2"], timeout=20)
        check(tx.stop() == 0, "txmail did not stop cleanly")
        check("domain=auto.test selector=txm2 is now active" in tx.log_text(), "no log line for the activation")
print("ok")
