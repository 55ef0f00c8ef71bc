"""The suppression list (issue core-5, item 5 and acceptance 4): a hard bounce puts the address
on the account's list (45 days for a "no such user" reply); the next job to it, over REST or
SMTP, drops the recipient with DROPPED/PREVIOUSLY_BOUNCED and renews the entry, while other
recipients and other accounts go ahead; DELETE /v2/suppressions/{email} makes it deliverable
again; entries added through the API page in address order; role local parts from config
are dropped as FORBIDDEN_RECIPIENT; `txmail suppression` does the
same over the API."""
import subprocess
from txmail_harness import *

ACCOUNTS = (f'[[account]]\nname = "alice"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\nhourly_limit = 0\n\n'
            f'[[account]]\nname = "bob"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\nhourly_limit = 0\n')


def job(*to):
    return {"subject": {"content": "suppression"}, "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "a@sender.test"}},
            "recipients": [{"mail": {"to": [{"email": t} for t in to]}}]}


def finished(tx, user, job_id):
    return wait_for(f"job {job_id} final", lambda: (lambda j: j.get("finished") and j)(
        http(tx, "GET", f"/v2/jobs/{job_id}", user=user).json))


def iso_ms(ts):
    import datetime
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000


def days_left(entry):
    import datetime
    until = datetime.datetime.fromisoformat(entry["expiresTs"].replace("Z", "+00:00"))
    return (until - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400


sink = Sink("127.0.0.51", free_port())
try:
    delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.51:{sink.port}"\n'
    with Txmail(accounts=ACCOUNTS, delivery=delivery,
                extra='[suppression]\nforbidden_local_parts = ["abuse", "Postmaster"]\n') as tx:
        # Role addresses from config are dropped as FORBIDDEN_RECIPIENT, over REST and SMTP.
        r = http(tx, "POST", "/v2/jobs", job("abuse@dest.test", "fine@dest.test"), user="alice")
        check([(x["status"], x.get("reason")) for x in r.json["recipients"]] ==
              [("DROPPED", "FORBIDDEN_RECIPIENT"), ("ACCEPTED", None)], f"{r}")
        code, text, role_job = submit_as(tx, "alice", "a@sender.test", ["POSTMASTER@dest.test"], "Subject: r\r\n\r\nx\r\n")
        check(code == 250, f"{code} {text}")
        evs = wait_for("the role drop", lambda: events(tx, role_job, phase="PRE_PROCESS"))
        check([e["subType"] for e in evs] == ["FORBIDDEN_RECIPIENT"], f"{evs}")

        first = http(tx, "POST", "/v2/jobs", job("reject-user@dest.test", "ok1@dest.test"), user="alice")
        check(first.status == 202, f"{first}")
        s = finished(tx, "alice", first.json["jobId"])
        check({x["email"]: x["status"] for x in s["recipients"]} ==
              {"reject-user@dest.test": "BOUNCED", "ok1@dest.test": "DELIVERED"}, f"{s}")
        entry = wait_for("the bounce on the list", lambda: (lambda r: r.status == 200 and r.json)(
            http(tx, "GET", "/v2/suppressions/reject-user@dest.test", user="alice")))
        check(entry["type"] == "PREVIOUSLY_BOUNCED" and entry["source"] == "bounce" and "5.1.1" in entry["reason"], f"{entry}")
        check(44.9 < days_left(entry) <= 45.01, f"a no-such-user bounce is kept 45 days: {entry}")
        check(http(tx, "GET", "/v2/suppressions/reject-user@dest.test", user="bob").status == 404,
              "another account's list holds it")
        # A renewal moves the expiry to now + 45 days: later than the entry's once the clock has
        # passed the millisecond the entry was made.
        wait_for("the clock past the entry's creation", lambda: time.time() * 1000 > iso_ms(entry["createdTs"]) + 1)

        # REST: dropped with PREVIOUSLY_BOUNCED, the other recipient delivered; the entry renewed.
        second = http(tx, "POST", "/v2/jobs", job("Reject-User@dest.test", "ok2@dest.test"), user="alice")
        got = {x["email"]: (x["status"], x.get("reason")) for x in second.json["recipients"]}
        check(got == {"Reject-User@dest.test": ("DROPPED", "PREVIOUSLY_BOUNCED"), "ok2@dest.test": ("ACCEPTED", None)}, f"{got}")
        dropped = [x for x in second.json["recipients"] if x["status"] == "DROPPED"][0]
        check("5.1.1" in dropped["detail"] and dropped["detail"].startswith('ts="'), f"{dropped}")
        s = finished(tx, "alice", second.json["jobId"])
        check([x["subType"] for x in s["recipients"] if x["status"] == "DROPPED"] == ["PREVIOUSLY_BOUNCED"], f"{s}")
        renewed = wait_for("the entry renewed", lambda: (lambda e: e["expiresTs"] > entry["expiresTs"] and e)(
            http(tx, "GET", "/v2/suppressions/reject-user@dest.test", user="alice").json))
        check(renewed["createdTs"] == entry["createdTs"], f"{renewed}")

        # SMTP: the same drop, as an event; the message reaches the other recipient only.
        code, text, smtp_job = submit_as(tx, "alice", "a@sender.test", ["reject-user@dest.test", "ok3@dest.test"],
                                         "Subject: smtp\r\n\r\nx\r\n")
        check(code == 250, f"{code} {text}")
        evs = wait_for("the SMTP drop", lambda: events(tx, smtp_job, phase="PRE_PROCESS"))
        check([(e["recipient"], e["type"], e["subType"]) for e in evs] ==
              [("reject-user@dest.test", "DROPPED", "PREVIOUSLY_BOUNCED")], f"{evs}")
        code, text, all_dropped = submit_as(tx, "alice", "a@sender.test", ["reject-user@dest.test"], "Subject: all\r\n\r\nx\r\n")
        check(code == 250, f"every recipient suppressed: {code} {text}")
        wait_for("the SMTP job delivered", lambda: any("ok3@dest.test" in m["rcpt_tos"] for m in sink.messages()))
        # Bob's list is his own: his job to that address is accepted (and bounces into his list).
        bob = http(tx, "POST", "/v2/jobs", job("reject-user@dest.test"), user="bob")
        check(bob.json["recipients"][0]["status"] == "ACCEPTED", f"{bob}")
        finished(tx, "bob", bob.json["jobId"])

        # DELETE: deliverable again.
        check(http(tx, "DELETE", "/v2/suppressions/reject-user@dest.test", user="alice").status == 204, "delete")
        check(http(tx, "GET", "/v2/suppressions/reject-user@dest.test", user="alice").status == 404, "deleted")
        check(http(tx, "DELETE", "/v2/suppressions/reject-user@dest.test", user="alice").status == 404, "twice")
        third = http(tx, "POST", "/v2/jobs", job("reject-user@dest.test"), user="alice")
        check(third.json["recipients"][0]["status"] == "ACCEPTED", f"deliverable again: {third}")
        delivered_to = [r for m in sink.messages() for r in m["rcpt_tos"]]
        check("reject-user@dest.test" not in delivered_to, "a suppressed address reached the sink")

        # Manual entries and paging.
        # p2's '+' must come back as '+' from the links the API gives (it was a space in them,
        # so the next page began before p2 and listed it again).
        for a in ("p3@x.test", "p1@x.test", "p2+tag@x.test"):
            r = http(tx, "POST", "/v2/suppressions", {"email": a, "type": "TEMPORARY_SUPPRESSED", "ttlDays": 2}, user="alice")
            check(r.status == 201 and r.json["type"] == "TEMPORARY_SUPPRESSED" and 1.9 < days_left(r.json) <= 2.01, f"{r}")
        check(http(tx, "GET", r.headers["location"], user="alice").json.get("email") == "p2+tag@x.test",
              f"the Location of p2+tag: {r.headers['location']}")
        r = http(tx, "POST", "/v2/suppressions", {"email": "not an address", "colour": 1}, user="alice")
        check(r.status == 400 and {e["path"] for e in r.json["errors"]} == {"email", "colour"}, f"{r}")
        page = http(tx, "GET", "/v2/suppressions?limit=2", user="alice").json
        emails = [e["email"] for e in page["suppressions"]]
        check(emails[:1] == ["p1@x.test"] and len(emails) == 2 and "next" in page, f"{page}")
        rest = http(tx, "GET", page["next"], user="alice").json
        check([e["email"] for e in rest["suppressions"]][:1] == ["p3@x.test"], f"{rest}")
        check(http(tx, "GET", "/v2/suppressions", token=True).status == 400, "the operator must name the account")
        check(http(tx, "GET", "/v2/suppressions", token=True, headers={"X-Txmail-Account": "alice"}).status == 200,
              "the operator for an account")

        # The command line.
        env = dict(os.environ, TXMAIL_TOKEN=admin_token(tx))
        base = ["--api", f"http://127.0.0.1:{tx.ports['http']}", "--account", "bob", "--json"]
        out = subprocess.run([TXMAIL, "suppression", "add", "cli@x.test", *base], capture_output=True, text=True, env=env)
        check(out.returncode == 0 and json.loads(out.stdout)["email"] == "cli@x.test", f"{out.stderr}")
        out = subprocess.run([TXMAIL, "suppression", "list", *base], capture_output=True, text=True, env=env)
        check(out.returncode == 0 and "cli@x.test" in [e["email"] for e in json.loads(out.stdout)["suppressions"]], out.stdout)
        out = subprocess.run([TXMAIL, "suppression", "remove", "cli@x.test", *base], capture_output=True, text=True, env=env)
        check(out.returncode == 0, out.stderr)
        check(http(tx, "GET", "/v2/suppressions/cli@x.test", user="bob").status == 404, "removed over the CLI")
finally:
    sink.stop()
print("ok")
