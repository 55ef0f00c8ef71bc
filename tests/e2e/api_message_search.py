"""Message search and the deliveries report (issue console-1, item 1): two accounts submit jobs
(delivered to a sink, one recipient bounced with 550, one dropped at intake); GET /v2/messages
finds them by recipient (either case of the domain), sender, status and time, newest first,
one row per recipient with its latest status; cursor paging across pages gives every message
once although a job arrives between pages; an account sees only its own messages (and may not
name another), the admin token sees every account's or one with account=; every bad
parameter is a 400 naming it; GET /v2/reports/deliveries.csv streams (chunked) one CSV row per
recipient that Python's csv module reads back with the same states; `txmail messages search`
and `txmail report deliveries` answer the same from the log's file."""
import csv
import io
import subprocess
import time
import urllib.parse
from txmail_harness import *

ACCOUNTS = (f'[[account]]\nname = "shop"\npassword = "{PASSWORD}"\nhourly_limit = 0\n'
            f'allow_unverified_domains = true\n\n'
            f'[[account]]\nname = "other"\npassword = "{PASSWORD}"\nhourly_limit = 0\n'
            f'allow_unverified_domains = true\n')


def job(sender, *recipients):
    return {"subject": {"content": "Hello"}, "body": {"contentType": "text/plain", "content": "Hi"},
            "mail": {"from": {"email": sender}},
            "recipients": [{"mail": {"to": [{"email": r}]}} for r in recipients]}


def submit(tx, user, sender, *recipients):
    r = http(tx, "POST", "/v2/jobs", job(sender, *recipients), user=user)
    check(r.status == 202, f"{r}")
    return r.json["jobId"]


def finished(tx, user, job_id):
    return wait_for(f"job {job_id} finished", lambda: (lambda s: s.get("finished") and s)(
        http(tx, "GET", f"/v2/jobs/{job_id}", user=user).json))


def search(tx, query="", **auth):
    r = http(tx, "GET", "/v2/messages" + ("?" + urllib.parse.urlencode(query) if query else ""), **auth)
    check(r.status == 200, f"{query}: {r}")
    return r.json


def every_page(tx, query, between=None, **auth):
    """Every message of a listing, page by page; `between` runs after the first page."""
    rows, cursor = [], None
    for page in range(100):
        q = dict(query, **({"cursor": cursor} if cursor else {}))
        got = search(tx, q, **auth)
        check(len(got["messages"]) <= int(query.get("limit", 100)), f"page too long: {got}")
        rows += got["messages"]
        cursor = got["nextCursor"]
        if page == 0 and between:
            between()
        if cursor is None:
            return rows
    fail("paging never ended")


def cli(tx, *args):
    return subprocess.run([TXMAIL, *args, "--data-dir", tx.data_dir], capture_output=True, text=True,
                          timeout=60)


sink = Sink("127.0.0.43", free_port())
try:
    delivery = (f'idle_connection = "200ms"\nretry_schedule = ["1s"]\n'
                f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.43:{sink.port}"\n')
    with Txmail(accounts=ACCOUNTS, delivery=delivery,
                extra='[suppression]\nforbidden_local_parts = ["abuse"]\n') as tx:
        admin = admin_token(tx)
        start_ms = int(time.time() * 1000) - 1000
        first = submit(tx, "shop", "orders@shop.test", "ann@dest.test", "reject-me@dest.test", "abuse@dest.test")
        news = submit(tx, "shop", "news@shop.test", *[f"reader{i}@dest.test" for i in range(12)])
        theirs = submit(tx, "other", "info@other.test", "ann@dest.test", "carl@dest.test")
        for user, job_id in (("shop", first), ("shop", news), ("other", theirs)):
            finished(tx, user, job_id)

        # One row per recipient with its latest status, newest first.
        mine = search(tx, {"limit": 1000}, user="shop")["messages"]
        check(len(mine) == 15 and {m["account"] for m in mine} == {"shop"}, f"{mine}")
        check([m["firstTs"] for m in mine] == sorted((m["firstTs"] for m in mine), reverse=True), "order")
        by_email = {m["email"]: m for m in mine}
        check(by_email["ann@dest.test"]["status"] == "DELIVERED" and by_email["ann@dest.test"]["jobId"] == first,
              f"{by_email['ann@dest.test']}")
        check(by_email["reject-me@dest.test"]["status"] == "BOUNCED"
              and "550" in by_email["reject-me@dest.test"]["reply"], f"{by_email['reject-me@dest.test']}")
        check(by_email["abuse@dest.test"]["status"] == "DROPPED", f"{by_email['abuse@dest.test']}")
        check(by_email["reader3@dest.test"]["from"] == "news@shop.test", f"{by_email['reader3@dest.test']}")

        # Each filter.
        def emails(query, **auth):
            return sorted(m["email"] for m in search(tx, dict(query, limit=1000), **auth)["messages"])
        check(emails({"recipient": "ann@DEST.test"}, user="shop") == ["ann@dest.test"], "recipient")
        check(len(emails({"sender": "news@shop.test"}, user="shop")) == 12, "sender")
        check(emails({"status": "BOUNCED"}, user="shop") == ["reject-me@dest.test"], "status BOUNCED")
        check(emails({"status": "dropped"}, user="shop") == ["abuse@dest.test"], "status DROPPED")
        check(len(emails({"status": "DELIVERED"}, user="shop")) == 13, "status DELIVERED")
        check(emails({"sender": "orders@shop.test", "status": "DELIVERED"}, user="shop") == ["ann@dest.test"], "both")
        end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
        check(len(emails({"since": start_ms, "until": end}, user="shop")) == 15, "since/until")
        check(emails({"until": start_ms}, user="shop") == [], "until before everything")
        check(emails({"since": end}, user="shop") == [], "since after everything")

        # Paging: every message once, although a job arrives after the first page.
        extra = []
        paged = every_page(tx, {"limit": 4}, user="shop",
                           between=lambda: extra.append(submit(tx, "shop", "orders@shop.test", "late@dest.test")))
        ids = [m["mailId"] for m in paged]
        check(len(ids) == len(set(ids)), f"a message twice: {ids}")
        check({m["mailId"] for m in mine} <= set(ids), "a message missing from the pages")
        check(len(every_page(tx, {"limit": 1000}, user="shop")) == 16, "16 once the late job is in")

        # Isolation and the admin token.
        check(emails({}, user="other") == ["ann@dest.test", "carl@dest.test"], "other's own")
        check(emails({"recipient": "reject-me@dest.test"}, user="other") == [], "other sees none of shop's")
        r = http(tx, "GET", "/v2/messages?account=shop", user="other")
        check(r.status == 400 and r.json["errors"][0]["path"] == "account", f"{r}")
        everyone = search(tx, {"limit": 1000}, token=admin)["messages"]
        check(len(everyone) == 18 and {m["account"] for m in everyone} == {"shop", "other"}, f"{len(everyone)}")
        check(emails({"account": "other"}, token=admin) == ["ann@dest.test", "carl@dest.test"], "admin account=")
        check(len(emails({"recipient": "ann@dest.test"}, token=admin)) == 2, "admin across accounts")

        # Every bad parameter is named.
        for query, name in (("limit=0", "limit"), ("limit=abc", "limit"), ("limit=1001", "limit"),
                            ("status=LOST", "status"), ("since=yesterday", "since"),
                            (f"since={start_ms}&until=1", "until"), ("cursor=xyz", "cursor"),
                            ("recipient=nobody", "recipient"), ("sender=x%40", "sender"),
                            ("colour=red", "colour")):
            r = http(tx, "GET", "/v2/messages?" + query, user="shop")
            check(r.status == 400 and r.headers["content-type"] == "application/problem+json"
                  and r.json["errors"][0]["path"] == name, f"{query}: {r}")
        r = http(tx, "GET", "/v2/reports/deliveries.csv", user="shop")
        check(r.status == 400 and r.json["errors"][0]["path"] == "since", f"{r}")
        r = http(tx, "GET", "/v2/reports/deliveries.csv?since=0", user="shop")
        check(r.status == 400 and r.json["errors"][0]["path"] == "until", f"31 days at most: {r}")
        check(http(tx, "GET", "/v2/messages").status == 401, "credentials are required")

        # The report, streamed.
        finished(tx, "shop", extra[0])
        r = http(tx, "GET", f"/v2/reports/deliveries.csv?since={start_ms}", user="shop")
        check(r.status == 200 and r.headers.get("transfer-encoding") == "chunked"
              and r.headers["content-type"].startswith("text/csv"), f"{r} {r.headers}")
        rows = list(csv.DictReader(io.StringIO(r.body, newline="")))
        check(len(rows) == 16 and {x["account"] for x in rows} == {"shop"}, f"{len(rows)} rows")
        states = {x["mail_id"]: x["status"] for x in rows}
        check(states == {m["mailId"]: m["status"] for m in every_page(tx, {"limit": 1000}, user="shop")}, f"{states}")
        bounced = [x for x in rows if x["status"] == "BOUNCED"]
        check(len(bounced) == 1 and "550" in bounced[0]["reply"] and bounced[0]["sender"] == "orders@shop.test"
              and bounced[0]["recipient"] == "reject-me@dest.test" and bounced[0]["job_id"] == first, f"{bounced}")
        check([x["first_ts"] for x in rows] == sorted(x["first_ts"] for x in rows), "oldest first")
        r = http(tx, "GET", f"/v2/reports/deliveries.csv?since={start_ms}", token=admin)
        check(len(list(csv.DictReader(io.StringIO(r.body, newline="")))) == 18, "admin: every account")

        # The CLI, from the log's file.
        out = cli(tx, "messages", "search", "--recipient", "ann@dest.test")
        check(out.returncode == 0, f"{out.stderr}")
        found = json.loads(out.stdout)["messages"]
        check(sorted(m["account"] for m in found) == ["other", "shop"], f"{found}")
        out = cli(tx, "messages", "search", "--account", "shop", "--status", "BOUNCED", "--limit", "5")
        check(out.returncode == 0 and [m["email"] for m in json.loads(out.stdout)["messages"]] == ["reject-me@dest.test"],
              f"{out}")
        out = cli(tx, "messages", "search", "--limit", "10")
        page2 = cli(tx, "messages", "search", "--limit", "10", "--cursor", json.loads(out.stdout)["nextCursor"])
        check(len({m["mailId"] for m in json.loads(out.stdout)["messages"] + json.loads(page2.stdout)["messages"]}) == 18,
              f"{page2}")
        out = cli(tx, "messages", "search", "--status", "LOST")
        check(out.returncode == 2 and "status" in out.stderr, f"{out}")
        out = cli(tx, "report", "deliveries", "--since", str(start_ms), "--account", "shop")
        check(out.returncode == 0, f"{out.stderr}")
        cli_rows = list(csv.DictReader(io.StringIO(out.stdout, newline="")))
        check({x["mail_id"]: x["status"] for x in cli_rows} == states, f"{cli_rows}")
finally:
    sink.stop()
print("ok")
