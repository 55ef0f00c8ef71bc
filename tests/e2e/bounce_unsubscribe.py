"""One-click unsubscribe that txmail hosts (issue bounce-1, item 5; RFC 8058). An account with
`unsubscribe = true` sends a REST job (one recipient per block) from its verified, DKIM-signed
domain: the message at the sink carries List-Unsubscribe (<https://.../u/<token>>,
<mailto:u-<token>@<bounce domain>>) and List-Unsubscribe-Post, both in the signature's h=, and
DKIM verifies (python3-dkim, keys from the test's DNS server). GET /u/<token> answers a page and
changes nothing; POST (List-Unsubscribe=One-Click) records POST_PROCESS/POST_DELIVERY/
UNSUBSCRIBED/UNSUBSCRIBE (status API, `txmail events`, the job's notification endpoint, valid
against docs/webhook.schema.json) and suppresses the address as UNSUBSCRIBED for that account
only; a second POST gives the same page and no second event; the next job to the address is
dropped PREVIOUSLY_UNSUBSCRIBED. A message to the mailto address at the inbound listener does the
same for another recipient. A forged or altered token answers 404 and records nothing."""
import smtplib
import email
import email.policy

import dkim as pydkim
import jsonschema
from txmail_harness import *
from dkim_check import txt_lookup
from webhook_receiver import WebhookReceiver

ACCOUNTS = (f'[[account]]\nname = "shop"\npassword = "{PASSWORD}"\nhourly_limit = 0\nunsubscribe = true\n'
            f'[[account]]\nname = "other"\npassword = "{PASSWORD}"\nhourly_limit = 0\n'
            f'allow_unverified_domains = true\n')
BOUNCES = "bounces.txmail.test"
BASE = "https://mail.txmail.test/base"
DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../docs")
with open(os.path.join(DOCS, "webhook.schema.json")) as f:
    SCHEMA = json.load(f)
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


def job(to, hook=None, sender="orders@shop.test"):
    j = {"subject": {"content": "News for " + to}, "body": {"contentType": "text/plain", "content": "news"},
         "mail": {"from": {"email": sender}}, "recipients": [{"mail": {"to": [{"email": to}]}}]}
    if hook:
        j["notification"] = {"endPoint": {"url": hook}}
    return j


def delivered(tx, sink, to, hook):
    sent = http(tx, "POST", "/v2/jobs", job(to, hook), user="shop")
    check(sent.status == 202, f"{sent}")
    mail_id = sent.json["recipients"][0]["mailId"]
    got = wait_for(f"{to} at the sink", lambda: [m for m in sink.messages() if m["rcpt_tos"] == [to]])
    wait_for(f"{to} delivered", lambda: http(tx, "GET", f"/v2/messages/{mail_id}", user="shop").json["status"]
             == "DELIVERED")
    return sent.json["jobId"], mail_id, got[0]["data"].replace("\r\n", "\n").replace("\n", "\r\n")


def links(data):
    msg = email.message_from_string(data, policy=email.policy.compat32)
    value = " ".join(msg["List-Unsubscribe"].split())
    check(msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click", f"List-Unsubscribe-Post: {msg.items()}")
    https, mailto = [part.strip().strip("<>") for part in value.split(",")]
    check(https.startswith(BASE + "/u/") and mailto.startswith("mailto:u-")
          and mailto.endswith("@" + BOUNCES + "?subject=unsubscribe"), f"List-Unsubscribe: {value}")
    return https[len(BASE):], mailto[len("mailto:"):].split("?")[0]


def unsubscribes(tx, mail_id):
    return [e for e in http(tx, "GET", f"/v2/messages/{mail_id}", user="shop").json["events"]
            if e["type"] == "UNSUBSCRIBED"]


def suppressed(tx, address, user="shop"):
    r = http(tx, "GET", f"/v2/suppressions/{address}", user=user)
    return r.json if r.status == 200 else None


receiver = WebhookReceiver()
sink = Sink("127.0.0.47", free_port())
try:
    with DnsServer(txt_zone([])) as dns:
        delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.47:{sink.port}"\n'
        extra = (f'[dns]\nservers = ["{dns.address}"]\n[publish]\nzone = "svc.test"\n'
                 f'[bounces]\ndomain = "{BOUNCES}"\nunsubscribe_url = "{BASE}/"\n'
                 '[notifications]\nallow_private_targets = true\n'
                 '[[smtp.listener]]\naddress = "127.0.0.1:0"\nmode = "inbound"\n')
        with Txmail(extra=extra, accounts=ACCOUNTS, delivery=delivery) as tx:
            added = http(tx, "POST", "/v2/domains", {"domain": "shop.test"}, user="shop")
            check(added.status == 201, f"{added}")
            dns.update(txt_zone([(r["name"], r["value"]) for r in added.json["records"]
                                 if not r["purpose"].startswith("return-path-")]))
            verified = http(tx, "POST", "/v2/domains/shop.test/verify", user="shop").json
            check(verified.get("verified"), f"{verified}")
            hook = receiver.url("/hook")

            # 1. The headers, signed.
            job_id, mail_id, data = delivered(tx, sink, "ann@dest.test", hook)
            path, mailto = links(data)
            check(pydkim.DKIM(data.encode()).verify(dnsfunc=txt_lookup(dns.port)), "DKIM does not verify")
            sig = email.message_from_string(data, policy=email.policy.compat32)["DKIM-Signature"]
            h = [n.strip().lower() for n in "".join(sig.split()).split("h=")[1].split(";")[0].split(":")]
            check("list-unsubscribe" in h and "list-unsubscribe-post" in h, f"h= {h}")
            print(f"List-Unsubscribe signed (h={':'.join(h)}); DKIM verifies")

            # 2. GET: a page, nothing recorded.
            page = http(tx, "GET", path)
            check(page.status == 200 and "text/html" in page.headers["content-type"]
                  and 'method="post"' in page.body, f"GET {path}: {page}")
            check(not unsubscribes(tx, mail_id) and suppressed(tx, "ann@dest.test") is None, "GET changed something")

            # 3. A forged or altered token: 404, nothing recorded.
            token = path[len("/u/"):]
            altered = token[:10] + ("a" if token[10] != "a" else "b") + token[11:]
            for bad in (altered, "a" * len(token), "x"):
                r = http(tx, "POST", "/u/" + bad, raw_body=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
                check(r.status == 404, f"POST /u/{bad}: {r}")
                check(http(tx, "GET", "/u/" + bad).status == 404, f"GET /u/{bad}")
            check(http(tx, "POST", path, raw_body=b"nothing", headers=ONE_CLICK).status == 400, "a POST without One-Click")
            check(not unsubscribes(tx, mail_id) and suppressed(tx, "ann@dest.test") is None, "a bad POST changed something")

            # 4. POST: recorded once, suppressed for this account, notified.
            first = http(tx, "POST", path, raw_body=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
            check(first.status == 200 and "text/html" in first.headers["content-type"], f"POST: {first}")
            event = wait_for("UNSUBSCRIBED", lambda: unsubscribes(tx, mail_id))[0]
            check((event["phase"], event["state"], event["subType"]) == ("POST_PROCESS", "POST_DELIVERY", "UNSUBSCRIBE")
                  and "one-click" in event["description"], f"{event}")
            cli_events = events(tx, job_id, phase="POST_PROCESS", type="UNSUBSCRIBED")
            check(len(cli_events) == 1 and cli_events[0]["recipient"] == "ann@dest.test", f"txmail events: {cli_events}")
            entry = suppressed(tx, "ann@dest.test")
            check(entry and entry["type"] == "UNSUBSCRIBED" and entry["source"] == "unsubscribe", f"{entry}")
            check(suppressed(tx, "ann@dest.test", user="other") is None, "another account's list has it")
            pushed = wait_for("the notification", lambda: [n for _, n in receiver.notifications("/hook")
                                                            if n["event"]["type"] == "UNSUBSCRIBED"])
            check(pushed[0]["mail"]["id"] == mail_id and pushed[0]["event"]["subType"] == "UNSUBSCRIBE", f"{pushed}")
            for r in receiver.got("/hook"):
                jsonschema.validate(r["body"], SCHEMA)

            # 5. Again: the same answer, no second event.
            second = http(tx, "POST", path, raw_body=b"List-Unsubscribe=One-Click", headers=ONE_CLICK)
            check(second.status == 200 and second.body == first.body, f"second POST: {second}")
            # The next job to the address is dropped; its DROPPED event is stored after any
            # second UNSUBSCRIBED would be.
            again = http(tx, "POST", "/v2/jobs", job("ann@dest.test", hook), user="shop")
            check([(x["status"], x.get("reason")) for x in again.json["recipients"]]
                  == [("DROPPED", "PREVIOUSLY_UNSUBSCRIBED")], f"the next job: {again}")
            wait_for("the DROPPED notification", lambda: [n for m, n in receiver.notifications("/hook")
                                                           if m["jobId"] == again.json["jobId"]])
            check(len(unsubscribes(tx, mail_id)) == 1, f"events: {unsubscribes(tx, mail_id)}")
            check(len([n for _, n in receiver.notifications("/hook") if n["event"]["type"] == "UNSUBSCRIBED"]) == 1,
                  "a second UNSUBSCRIBED notification")
            # Another account may still send to the address.
            theirs = http(tx, "POST", "/v2/jobs", job("ann@dest.test", sender="news@other.test"), user="other")
            check(theirs.json["recipients"][0]["status"] == "ACCEPTED", f"the other account: {theirs}")
            print("POST -> UNSUBSCRIBED once, suppressed for the account, next job PREVIOUSLY_UNSUBSCRIBED")

            # 6. The mailto at the inbound listener.
            _, mail_id2, data2 = delivered(tx, sink, "bo@dest.test", hook)
            _, mailto2 = links(data2)
            with smtplib.SMTP("127.0.0.1", tx.ports["inbound"], timeout=10) as s:
                s.ehlo("mx.dest.test")
                s.mail("<bo@dest.test>")
                code, text = s.rcpt(mailto2)
                check(code == 250, f"RCPT {mailto2}: {code} {text}")
                code, text = s.data(b"From: <bo@dest.test>\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n")
                check(code == 250, f"DATA: {code} {text}")
                forged = "u-" + "a" * 55 + "@" + BOUNCES
                s.mail("<bo@dest.test>")
                code, _ = s.rcpt(forged)
                check(code >= 500, f"RCPT {forged}: {code}")
            event2 = wait_for("UNSUBSCRIBED by mail", lambda: unsubscribes(tx, mail_id2))[0]
            check("mailto" in event2["description"], f"{event2}")
            wait_for("bo@ suppressed", lambda: (suppressed(tx, "bo@dest.test") or {}).get("type") == "UNSUBSCRIBED")
            print(f"mailto {mailto2.split('@')[0][:12]}... -> UNSUBSCRIBED")
finally:
    sink.stop()
    receiver.stop()
print("ok")
