"""The operator's hand on the delivery queues (issue console-1: the console's queues page,
GET /v2/admin/queues, POST /v2/admin/queues/{pause,resume,retry}, `txmail queue`).

busy.test's MX answers every connection with 421: its three messages are deferred and the site
is backed off for an hour. The view shows the site with its size, oldest message, back-off and
last reply, and the schedule per domain. A paused domain (ok.test, whose MX is healthy) holds
its mail without an attempt or an event until it is resumed. Requests a stranger or a customer
sends, or that name nothing, are refused with a clear problem. Then busy.test's MX recovers;
in Chromium the operator pauses and resumes busy.test from the queues page and presses
"Retry now" on its site: the three messages go at once instead of an hour later."""
import datetime
import time

from selenium.webdriver.common.by import By

from console_driver import Browser
from txmail_harness import *

PORT = free_port()
ZONE = """$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
busy IN MX 10 mx.busy.test.
mx.busy IN A 127.0.0.81
ok IN MX 10 mx.ok.test.
mx.ok IN A 127.0.0.82
"""

def queues(tx):
    got = http(tx, "GET", "/v2/admin/queues", token=True)
    check(got.status == 200, f"the queue view: {got}")
    return got.json


def cli(tx, *args, ok=True):
    out = subprocess.run([TXMAIL, "queue", *args, "--config", tx.config], capture_output=True, text=True,
                         timeout=60)
    check((out.returncode == 0) == ok, f"txmail queue {' '.join(args)}: {out.returncode} {out.stdout} {out.stderr}")
    return out


def parse_ts(iso):
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def deliver_events(tx, job):
    return [e["type"] for e in events(tx, job)]


server = RefusingServer("127.0.0.81", PORT, b"421 4.3.2 mx.busy.test overloaded, try later\r\n")
ok_sink = Sink("127.0.0.82", PORT)
busy_sink = None
browser = None
try:
    with DnsServer(ZONE) as dns:
        delivery = f'paused = false\nmx_port = {PORT}\nretry_schedule = ["1h"]\n'
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', delivery=delivery) as tx:
            started = time.time()
            busy = [submit(tx, "a@sender.test", [f"r{i}@busy.test"], f"Subject: {i}\r\n\r\nx\r\n") for i in range(3)]
            wait_for("busy.test's three recipients deferred",
                     lambda: all(deliver_events(tx, j) == ["DEFERRED"] for j in busy))

            # The view: the backed-off site, its domain, the schedule per domain.
            v = queues(tx)
            sites = [d for d in v["destinations"] if "busy.test" in d["domains"]]
            check(len(sites) == 1, f"busy.test's site in the view: {v['destinations']}")
            site = sites[0]
            check("mx.busy.test" in site["site"] and site["backedOffUntil"] and site["failures"] >= 1
                  and "421" in site["lastReply"] and site["recipients"] == 0 and site["waitingRecipients"] == 3
                  and not site["paused"], f"{site}")
            waiting = {w["domain"]: w for w in v["waiting"]}
            check(waiting.get("busy.test", {}).get("recipients") == 3, f"the schedule: {v['waiting']}")
            check(v["jobs"] == 3 and v["waitingRecipients"] == 3 and v["pauses"] == [], f"{v}")
            oldest = parse_ts(v["oldestTs"])
            check(started - 5 <= oldest <= time.time() + 1, f"oldestTs {v['oldestTs']}")
            listed = cli(tx, "list").stdout
            check(f"site {site['site']}" in listed and "backed off until" in listed and "domain busy.test" in listed,
                  f"txmail queue list: {listed}")
            check(json.loads(cli(tx, "list", "--json").stdout)["jobs"] == 3, "txmail queue list --json")

            # Only the operator; every bad request names what is wrong; nothing named: 404.
            check(http(tx, "GET", "/v2/admin/queues").status == 401, "the view without credentials")
            check(http(tx, "GET", "/v2/admin/queues", user="alice").status in (401, 403), "the view for an account")
            check(http(tx, "POST", "/v2/admin/queues/pause", {"domain": "ok.test"}, user="alice").status in (401, 403),
                  "a pause by an account")
            for body, field in [({"site": site["site"], "domain": "busy.test"}, "site"), ({}, "site"),
                                ({"domain": "busy.test", "until": "tomorrow"}, "until"),
                                ({"domain": "busy.test", "until": "2020-01-01T00:00:00Z"}, "until"),
                                ({"domain": "busy.test", "for": "1h"}, "for"), ({"domain": "a..b"}, "domain"),
                                ({"domain": 7}, "domain"), ({"site": "mx one.test"}, "site"),
                                ({"site": "mx.a.test,"}, "site")]:
                got = http(tx, "POST", "/v2/admin/queues/pause", body, token=True)
                check(got.status == 400 and got.headers["content-type"].startswith("application/problem+json")
                      and field in [e["path"] for e in got.json.get("errors", [])], f"pause {body}: {got}")
            got = http(tx, "POST", "/v2/admin/queues/pause", raw_body=b"{" + b" " * 5000 + b"}", token=True,
                       headers={"Content-Type": "application/json"})
            check(got.status == 413, f"a 5 kB action: {got}")
            got = http(tx, "POST", "/v2/admin/queues/resume", {"domain": "never.test"}, token=True)
            check(got.status == 404 and "never.test" in got.json["detail"], f"resume of nothing: {got}")
            got = http(tx, "POST", "/v2/admin/queues/retry", {"site": "mx.nowhere.test"}, token=True)
            check(got.status == 404, f"retry of nothing: {got}")
            out = cli(tx, "retry", "--domain", "never.test", ok=False)
            check("never.test" in out.stderr, f"the CLI's refusal: {out.stderr}")
            check(cli(tx, "pause", ok=False).returncode == 2, "a pause naming nothing")

            # A paused domain holds its mail: no attempt, no event, until it is resumed.
            out = cli(tx, "pause", "--domain", "ok.test").stdout
            check(out.startswith("pause:"), f"txmail queue pause: {out}")
            held = submit(tx, "a@sender.test", ["x@ok.test"], "Subject: held\r\n\r\nx\r\n")
            wait_for("ok.test held by its pause", lambda: (lambda w: w.get("ok.test", {}).get("held") == 1)(
                {w["domain"]: w for w in queues(tx)["waiting"]}))
            v = queues(tx)
            check(v["pauses"] == [{"domain": "ok.test", "sinceTs": v["pauses"][0]["sinceTs"], "untilTs": None}],
                  f"pauses: {v['pauses']}")
            check(ok_sink.count() == 0 and deliver_events(tx, held) == [], "a paused domain's mail was tried")
            got = http(tx, "POST", "/v2/admin/queues/resume", {"domain": "ok.test"}, token=True)
            check(got.status == 200 and got.json["broughtForward"] == 1, f"resume: {got}")
            wait_for("the held mail delivered", lambda: deliver_events(tx, held) == ["DELIVERED"])
            check(ok_sink.count() == 1 and queues(tx)["pauses"] == [], "after the resume")

            # busy.test's MX recovers. In the browser: pause and resume its domain, then retry its site.
            server.stop()
            busy_sink = Sink("127.0.0.81", PORT)
            browser = Browser(f"http://127.0.0.1:{tx.ports['http']}")
            browser.login(admin_token(tx))
            browser.go("#queues")
            browser.find("the queues page", f"tr[data-site='{site['site']}']")
            browser.shot("10-queues")
            row = browser.driver.find_element(By.CSS_SELECTOR, f"tr[data-site='{site['site']}']")
            check("backed off until" in row.text and "421" in row.text, f"the site's row: {row.text}")
            browser.find("busy.test's pause button", "tr[data-domain='busy.test'] button.pause").click()
            browser.find("the pause", "#pauses")
            browser.wait("the pause listed", lambda d: "domain busy.test" in d.find_element(By.CSS_SELECTOR, "#pauses").text)
            check(queues(tx)["pauses"][0]["domain"] == "busy.test", "the console's pause is not in the API")
            browser.find("the resume button", "#pauses button.resume").click()
            browser.find("no pause left", "#no-pauses")
            browser.find("the retry button", f"tr[data-site='{site['site']}'] button.retry").click()
            # The resume's answer stands in #queue-done until the retry's replaces it: wait for
            # the retry's own words.
            browser.wait("the retry's answer", lambda d: any(
                e.text.startswith("retry ") and "back-offs ended" in e.text
                for e in d.find_elements(By.CSS_SELECTOR, "#queue-done")))
            # Deferred once by the 421, then delivered by the retry: the pause and the resume
            # in between made no attempt and no event.
            wait_for("busy.test's mail delivered after the retry",
                     lambda: all(deliver_events(tx, j) == ["DEFERRED", "DELIVERED"] for j in busy), timeout=30)
            check(time.time() - started < 600, "delivered by the hour's retry, not by the button")
            check(busy_sink.count() == 3, f"busy.test's MX got {busy_sink.count()} messages")
            browser.go("#overview")
            browser.find("the oldest queued message", "#oldest-queued")
            browser.shot("11-overview-operator")
            print(f"queue control: {len(server.connections)} refused connections, view/CLI/validation checked, "
                  f"pause/resume held and released ok.test, the console's retry sent busy.test's 3 messages")
finally:
    if browser:
        browser.quit()
    server.stop()
    ok_sink.stop()
    if busy_sink:
        busy_sink.stop()
print("ok")
