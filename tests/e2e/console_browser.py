"""The web console in a real browser (issue console-1, item 2): Debian's Chromium, headless,
driven through WebDriver (python3-selenium, chromium-driver).

A sandbox account logs in with its API key; two jobs go in through the API (one to the
simulator's bounce address, one with a notification endpoint that answers 503 until it is a
dead letter); the search form finds both; the bounced one's timeline shows the simulator's
reply; a suppression is removed with its button; the dead letter is replayed with the button
and reaches the receiver; logout ends the session (its cookie no longer opens the API). A second
account's key sees none of the first's messages. A change sent with a session cookie but
without its CSRF token is refused (403), and the login takes JSON only, of a few bytes. Each page's screenshot
is kept under build/artifacts/console/ (TXMAIL_ARTIFACTS overrides build/artifacts)."""
import re
import urllib.parse
from http.client import HTTPConnection

from selenium.webdriver.common.by import By

from console_driver import ARTIFACTS, Browser
from txmail_harness import *
from webhook_receiver import WebhookReceiver

SIM = "simulator.txmail.invalid"


def cli(tx, *args):
    out = subprocess.run([TXMAIL, *args, "--config", tx.config, "--json"], capture_output=True, text=True,
                         timeout=60)
    check(out.returncode == 0, f"txmail {' '.join(args)} failed: {out.stderr}")
    return json.loads(out.stdout)


def job(to, subject, hook=None):
    body = {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "Hello"},
            "mail": {"from": {"email": "orders@shop.test"}},
            "recipients": [{"mail": {"to": [{"email": to}]}}]}
    if hook:
        body["notification"] = {"endPoint": {"url": hook}}
    return body


def raw(tx, method, path, headers, body=None):
    """A request with exactly these headers (a cookie, with or without the CSRF token)."""
    conn = HTTPConnection("127.0.0.1", tx.ports["http"], timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


receiver = WebhookReceiver()
receiver.status["/dead"] = 503
sink = Sink("127.0.0.61", free_port())
browser = None
try:
    delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.61:{sink.port}"\n'
    with Txmail(delivery=delivery,
                extra='[notifications]\nallow_private_targets = true\nretry_schedule = ["200ms", "200ms"]\n') as tx:
        shop_key = cli(tx, "account", "create", "shop", "--sandbox", "--allow-unverified-domains",
                       "--hourly-limit", "0")["apiKey"]["key"]
        other_key = cli(tx, "account", "create", "other", "--sandbox", "--allow-unverified-domains",
                        "--hourly-limit", "0")["apiKey"]["key"]
        # Two jobs through the API: one delivered (its notifications die at a 503), one bounced.
        sent = http(tx, "POST", "/v2/jobs", job("ann@dest.test", "first", receiver.url("/dead")), key=shop_key)
        check(sent.status == 202, f"{sent}")
        ann_mail = sent.json["recipients"][0]["mailId"]
        sent = http(tx, "POST", "/v2/jobs", job(f"bounce@{SIM}", "second"), key=shop_key)
        check(sent.status == 202, f"{sent}")
        bounced_mail = sent.json["recipients"][0]["mailId"]
        check(http(tx, "POST", "/v2/suppressions", {"email": "gone@dest.test"}, key=shop_key).status == 201,
              "suppression not added")
        quoted = urllib.parse.quote(bounced_mail, safe="")
        bounced = wait_for("the bounce", lambda: (lambda a: a.json["status"] == "BOUNCED" and a.json)(
            http(tx, "GET", f"/v2/messages/{quoted}", key=shop_key)))
        reply = [e for e in bounced["events"] if e["type"] == "BOUNCED"][0]["description"]
        check(reply, f"the bounce has no reply: {bounced}")
        wait_for("a dead letter", lambda: http(tx, "GET", "/v2/webhooks/dead-letters", key=shop_key).json["deadLetters"])

        base = f"http://127.0.0.1:{tx.ports['http']}"
        browser = Browser(base)
        browser.go("")
        browser.find("the login form", "#token")
        browser.shot("01-login")
        # A wrong key: refused on the page, no session.
        field = browser.driver.find_element(By.CSS_SELECTOR, "#token")
        field.send_keys("txm_" + "A" * 43)
        browser.driver.find_element(By.CSS_SELECTOR, "#login").click()
        browser.wait("the refusal", lambda d: "unknown API key" in d.find_element(By.CSS_SELECTOR, "#login-form").text)
        check(browser.session_cookie() is None, "a wrong key got a session")

        browser.login(shop_key)
        browser.find("the overview's totals", "#total-BOUNCED")
        browser.wait("both messages counted", lambda d: d.find_element(By.CSS_SELECTOR, "#total-BOUNCED .n").text == "1"
                     and d.find_element(By.CSS_SELECTOR, "#total-DELIVERED .n").text == "1")
        browser.shot("02-overview")
        cookie = browser.session_cookie()
        check(cookie and len(cookie) == 64, f"session cookie {cookie}")

        # Search: both, then the bounced one alone; its timeline shows the reply.
        both = browser.search()
        check(set(both) == {ann_mail, bounced_mail}, f"search found {list(both)}")
        only = browser.search(f"bounce@{SIM}")
        check(list(only) == [bounced_mail] and "BOUNCED" in only[bounced_mail], f"search by recipient: {only}")
        browser.shot("03-messages")
        browser.driver.find_element(By.CSS_SELECTOR, f"tr[data-mail-id='{bounced_mail}'] a.timeline-link").click()
        browser.find("the timeline", "#timeline")
        browser.wait("the bounce reply in the timeline",
                     lambda d: reply in [c.text for c in d.find_elements(By.CSS_SELECTOR, "#timeline td.reply")])
        check(browser.driver.find_element(By.CSS_SELECTOR, "#mail-id").text == bounced_mail, "another message's timeline")
        browser.shot("04-timeline")

        # Suppressions: remove one with its button.
        browser.go("#suppressions")
        browser.find("the suppression", "tr[data-email='gone@dest.test'] button.remove").click()
        browser.find("the empty list", "#no-suppressions")
        browser.shot("05-suppressions")
        check(http(tx, "GET", "/v2/suppressions/gone%40dest.test", key=shop_key).status == 404,
              "the suppression is still there")

        # Webhooks: the dead letter replayed with the button reaches the receiver.
        receiver.status["/dead"] = 200
        browser.go("#webhooks")
        browser.find("the dead letters", "#dead-letters")
        browser.shot("06-webhooks")
        browser.driver.find_element(By.CSS_SELECTOR, "#replay").click()
        # The job's events make one batch, or two when they came apart in time (seen under
        # ASan): one dead letter each.
        browser.wait("the replay", lambda d: d.find_elements(By.CSS_SELECTOR, "#replayed")
                     and re.search(r"Replayed [12] dead letters",
                                   d.find_element(By.CSS_SELECTOR, "#replayed").text))
        wait_for("the replayed notifications", lambda: receiver.notifications("/dead"))
        wait_for("no dead letter left",
                 lambda: not http(tx, "GET", "/v2/webhooks/dead-letters", key=shop_key).json["deadLetters"])
        browser.go("#domains")
        browser.find("the domains page", "main h1")
        browser.go("#sandbox")
        browser.find("the captured message", "#captured")
        browser.shot("07-sandbox")

        # CSRF: the cookie alone does not change anything.
        csrf = json.loads(raw(tx, "GET", "/console/session", {"Cookie": f"txmail_session={cookie}"})[1])["csrf"]
        status, body = raw(tx, "POST", "/v2/suppressions", {"Cookie": f"txmail_session={cookie}",
                                                           "Content-Type": "application/json"},
                           json.dumps({"email": "x@dest.test"}))
        check(status == 403 and "CSRF" in body, f"a change without the CSRF token: {status} {body}")
        status, _ = raw(tx, "POST", "/v2/suppressions", {"Cookie": f"txmail_session={cookie}",
                                                        "Content-Type": "application/json", "X-CSRF-Token": "0" * 64},
                        json.dumps({"email": "x@dest.test"}))
        check(status == 403, f"a change with a wrong CSRF token: {status}")
        status, _ = raw(tx, "POST", "/v2/suppressions", {"Cookie": f"txmail_session={cookie}",
                                                        "Content-Type": "application/json", "X-CSRF-Token": csrf},
                        json.dumps({"email": "x@dest.test"}))
        check(status == 201, f"a change with the CSRF token: {status}")
        status, _ = raw(tx, "POST", "/console/logout", {"Cookie": f"txmail_session={cookie}"})
        check(status == 403, f"logout without the CSRF token: {status}")
        status, _ = raw(tx, "POST", "/console/login", {"Content-Type": "application/x-www-form-urlencoded"},
                        "token=" + shop_key)
        check(status == 415, f"a form login: {status}")
        status, _ = raw(tx, "POST", "/console/login", {"Content-Type": "application/json"},
                        json.dumps({"token": "x" * 10000}))
        check(status == 413, f"a 10 kB login: {status}")
        status, _ = raw(tx, "HEAD", "/console/", {})
        check(status == 405, f"HEAD of a page: {status}")

        # Logout ends the session: its cookie opens nothing any more.
        browser.driver.find_element(By.CSS_SELECTOR, "#logout").click()
        browser.find("the login form after logout", "#token")
        browser.shot("08-logged-out")
        status, _ = raw(tx, "GET", "/v2/messages", {"Cookie": f"txmail_session={cookie}"})
        check(status == 401, f"the old session after logout: {status}")

        # Another account sees none of shop's messages, in the page or through its session.
        browser.login(other_key)
        check(browser.search() == {}, "the other account's search shows shop's messages")
        browser.shot("09-other-account")
        other_cookie = browser.session_cookie()
        status, _ = raw(tx, "GET", f"/v2/messages/{quoted}", {"Cookie": f"txmail_session={other_cookie}"})
        check(status == 404, f"the other account reads shop's message: {status}")
        print(f"console: 9 screenshots in {os.path.normpath(ARTIFACTS)}; search, timeline, suppression removal, "
              f"dead-letter replay, logout, isolation and CSRF checked in Chromium")
finally:
    if browser:
        browser.quit()
    receiver.stop()
    sink.stop()
print("ok")
