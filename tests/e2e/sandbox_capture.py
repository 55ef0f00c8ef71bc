"""Sandbox accounts (issue console-1, item 3): an account made with `txmail account create
--sandbox` sends over REST and over SMTP; its mail is signed as usual but reaches no server (a
sink is every domain's MX, and another account's message does reach it), goes to the capture
store instead, where GET /v2/sandbox/messages[/{mailId}] shows it raw (the DKIM signature
verifies with python3-dkim against the test DNS server) and parsed; its events say DELIVERED.
Simulator recipients give their outcomes: bounce@ a hard bounce, defer@ a deferral and then a
delivery, suppressed@ a drop, complaint@ a delivery and then a COMPLAINED event. Another account sees none of the captures; the operator sees all;
bad parameters are 400 problems naming them."""
import json
import smtplib
import subprocess
import urllib.parse
from txmail_harness import *
from dkim_check import python_verdicts

SIM = "simulator.txmail.invalid"
ACCOUNTS = (f'[[account]]\nname = "plain"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\n'
            f'hourly_limit = 0\n')


def cli(tx, *args):
    out = subprocess.run([TXMAIL, *args, "--config", tx.config, "--json"], capture_output=True, text=True,
                         timeout=60)
    check(out.returncode == 0, f"txmail {' '.join(args)} failed: {out.stderr}")
    return json.loads(out.stdout)


def quoted(mail_id):
    return urllib.parse.quote(mail_id, safe="")


def job_body(to, subject):
    return {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "Hello sandbox"},
            "mail": {"from": {"email": "Shop <orders@shop.test>"}},
            "recipients": [{"mail": {"to": [{"email": a} for a in to]}}]}


def final_states(tx, key, job, count):
    """The job's recipient states once `count` of them are final."""
    def done():
        a = http(tx, "GET", f"/v2/jobs/{job}", key=key)
        states = {r["email"]: r["status"] for r in a.json["recipients"]}
        final = [s for s in states.values() if s in ("DELIVERED", "BOUNCED", "DROPPED")]
        return states if len(final) >= count else None
    return wait_for(f"{count} final recipients of {job}", done)


def outcomes(tx, job):
    """{recipient: [(type, subType, attempt)]} of the job's delivery events."""
    by = {}
    for e in events(tx, job):
        by.setdefault(e["recipient"], []).append((e["type"], e["subType"], e["attempt"]))
    return by


def captured(tx, key, mail_id, port):
    """One captured message, checked: its signature verifies and its parsed view agrees."""
    a = http(tx, "GET", f"/v2/sandbox/messages/{quoted(mail_id)}", key=key)
    check(a.status == 200, f"capture {mail_id}: {a}")
    m = a.json
    check(m["rawEncoding"] == "utf-8", f"raw encoding {m['rawEncoding']}")
    raw = m["raw"].encode("utf-8")
    check(m["size"] == len(raw), f"size {m['size']} != {len(raw)}")
    check(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.test; s=txm1;" in raw, "not signed")
    verdicts = python_verdicts(raw, port)
    check(verdicts and all(v[2] for v in verdicts) and verdicts[0][0] == "shop.test",
          f"python3-dkim says {verdicts}")
    names = [h["name"].lower() for h in m["headers"]]
    check("dkim-signature" in names and "subject" in names and "received" in names, f"headers {names}")
    check(m["envelope"]["to"] == [m["to"]], f"envelope {m['envelope']}")
    return m


sink = Sink("127.0.0.41", free_port())
try:
    with DnsServer(txt_zone([])) as dns:
        delivery = (f'retry_schedule = ["1s"]\nretry_every = "1s"\nidle_connection = "200ms"\n'
                    f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.41:{sink.port}"\n')
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', accounts=ACCOUNTS, delivery=delivery) as tx:
            made = cli(tx, "account", "create", "sandy", "--sandbox", "--allow-unverified-domains",
                       "--hourly-limit", "0")
            check(made["sandbox"] is True, f"account {made}")
            sandy_key, sandy_password = made["apiKey"]["key"], made["password"]
            bob_key = cli(tx, "account", "create", "bob", "--sandbox")["apiKey"]["key"]
            shown = http(tx, "GET", "/v2/admin/accounts/sandy", token=True)
            check(shown.json["sandbox"] is True, f"{shown}")
            # sandy's own domain: signed with its (pending) keys, published in the test DNS.
            added = cli(tx, "domain", "add", "shop.test", "--account", "sandy")
            dns.update(txt_zone([(r["name"], r["value"]) for r in added["records"] if r["type"] == "TXT"]))

            # REST: a real-looking address and every simulator address in one block.
            sent = http(tx, "POST", "/v2/jobs", key=sandy_key, body=job_body(
                ["ann@dest.test", f"bounce@{SIM}", f"defer@{SIM}", f"suppressed@{SIM}", f"complaint@{SIM}"],
                "by REST"))
            check(sent.status == 202, f"REST job {sent}")
            rest_job = sent.json["jobId"]
            answer = {r["email"]: r for r in sent.json["recipients"]}
            check(answer[f"suppressed@{SIM}"]["status"] == "DROPPED"
                  and answer[f"suppressed@{SIM}"]["reason"] == "PREVIOUSLY_BOUNCED", f"{answer}")
            # SMTP submission with the generated password.
            s = smtplib.SMTP("127.0.0.1", tx.ports["submission"], timeout=30)
            s.starttls()
            s.login("sandy", sandy_password)
            s.sendmail("orders@shop.test", ["carl@dest.test"],
                       b"From: orders@shop.test\r\nTo: carl@dest.test\r\nSubject: by SMTP\r\n\r\nHi Carl\r\n")
            s.quit()

            states = final_states(tx, sandy_key, rest_job, 5)
            check(states == {"ann@dest.test": "DELIVERED", f"bounce@{SIM}": "BOUNCED",
                             f"defer@{SIM}": "DELIVERED", f"suppressed@{SIM}": "DROPPED",
                             f"complaint@{SIM}": "DELIVERED"}, f"states {states}")
            by = outcomes(tx, rest_job)
            check(by["ann@dest.test"] == [("DELIVERED", "OK", 1)], f"ann {by}")
            check(by[f"bounce@{SIM}"] == [("BOUNCED", "HARD_BOUNCE", 1)], f"bounce {by}")
            check(by[f"defer@{SIM}"] == [("DEFERRED", "SOFT_BOUNCE", 1), ("DELIVERED", "OK", 2)], f"defer {by}")
            # complaint@: delivered, then the complaint a feedback loop would report.
            complaint = wait_for("the simulated complaint", lambda: (lambda x: ("COMPLAINED", "COMPLAINT") in x and x)(
                [(e["type"], e["subType"]) for e in events(tx, rest_job, phase=None)
                 if e["recipient"] == f"complaint@{SIM}"]))
            check(complaint[-2:] == [("DELIVERED", "OK"), ("COMPLAINED", "COMPLAINT")], f"complaint {complaint}")
            ann = [e for e in events(tx, rest_job) if e["recipient"] == "ann@dest.test"][0]
            check(ann["remoteHost"] == "sandbox" and ann["reply"].startswith("250 2.0.0"), f"{ann}")
            # A bounce of the simulator leaves no suppression: the address can be tried again.
            sup = http(tx, "GET", f"/v2/suppressions/{quoted('bounce@' + SIM)}", key=sandy_key)
            check(sup.status == 404, f"simulated bounce suppressed: {sup}")

            listed = wait_for("four captures", lambda: (lambda a: len(a.json["messages"]) >= 4 and a.json)(
                http(tx, "GET", "/v2/sandbox/messages", key=sandy_key)))
            rows = {m["to"]: m for m in listed["messages"]}
            check(set(rows) == {"ann@dest.test", f"defer@{SIM}", f"complaint@{SIM}", "carl@dest.test"},
                  f"captures {list(rows)}")
            check(all(m["account"] == "sandy" for m in listed["messages"]), f"{listed}")
            m = captured(tx, sandy_key, rows["ann@dest.test"]["mailId"], dns.port)
            check(m["jobId"] == rest_job and m["envelope"]["from"] == "orders@shop.test", f"{m['envelope']}")
            check(m["parts"][0]["contentType"] == "text/plain" and "Hello sandbox" in m["parts"][0]["content"],
                  f"parts {m['parts']}")
            check(dict((h["name"], h["value"]) for h in m["headers"])["Subject"] == "by REST", f"{m['headers']}")
            smtp_m = captured(tx, sandy_key, rows["carl@dest.test"]["mailId"], dns.port)
            check("Hi Carl" in smtp_m["parts"][0]["content"], f"{smtp_m['parts']}")
            smtp_job = smtp_m["jobId"]
            check(outcomes(tx, smtp_job) == {"carl@dest.test": [("DELIVERED", "OK", 1)]}, f"{outcomes(tx, smtp_job)}")

            # Paging: newest first, one at a time, every capture once.
            seen, cursor = [], ""
            for _ in range(5):
                page = http(tx, "GET", "/v2/sandbox/messages?limit=1" + (f"&cursor={cursor}" if cursor else ""),
                            key=sandy_key).json
                seen += [r["mailId"] for r in page["messages"]]
                cursor = page["nextCursor"]
                if cursor is None:
                    break
            check(sorted(seen) == sorted(r["mailId"] for r in listed["messages"]), f"pages {seen}")

            # Tenants: bob sees none of it; the operator sees it all.
            check(http(tx, "GET", "/v2/sandbox/messages", key=bob_key).json["messages"] == [], "bob sees captures")
            other = http(tx, "GET", f"/v2/sandbox/messages/{quoted(m['mailId'])}", key=bob_key)
            check(other.status == 404 and other.json["type"] == "/problems/not-found", f"bob reads: {other}")
            named = http(tx, "GET", "/v2/sandbox/messages?account=sandy", key=bob_key)
            check(named.status == 400 and named.json["errors"][0]["path"] == "account", f"{named}")
            admin = http(tx, "GET", "/v2/sandbox/messages?account=sandy", token=True)
            check(len(admin.json["messages"]) == len(listed["messages"]) == 4, f"admin {admin}")
            check(http(tx, "GET", f"/v2/sandbox/messages/{quoted(m['mailId'])}", token=True).status == 200, "admin")
            check(http(tx, "GET", "/v2/sandbox/messages").status == 401, "no credentials")
            # Bad input: 400 problems naming the parameter.
            for query, path in (("limit=0", "limit"), ("limit=x", "limit"), ("cursor=abc", "cursor"),
                                ("since=1", "since"), ("limit=1&limit=2", "limit")):
                bad = http(tx, "GET", "/v2/sandbox/messages?" + query, key=sandy_key)
                check(bad.status == 400 and bad.headers["content-type"].startswith("application/problem+json")
                      and bad.json["errors"][0]["path"] == path, f"{query}: {bad}")

            # Nothing of sandy's reached the sink; another account's message does.
            check(sink.count() == 0, f"the sink got {sink.count()} messages from a sandbox account")
            sent = http(tx, "POST", "/v2/jobs", user="plain", body=job_body(["dan@dest.test"], "real"))
            check(sent.status == 202, f"plain job {sent}")
            got = wait_for("the real delivery", lambda: sink.count() >= 1 and sink.messages())
            check(len(got) == 1 and got[0]["rcpt_tos"] == ["dan@dest.test"], f"sink got {got}")
            check(http(tx, "GET", "/v2/sandbox/messages", token=True).json["messages"][0]["account"] == "sandy",
                  "a real delivery was captured")
            check(tx.stop() == 0, "txmail did not stop cleanly")
finally:
    sink.stop()
print("ok")
