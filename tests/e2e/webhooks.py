"""Push notifications (issue core-5, acceptance 1): a job with one deliverable recipient, one the
sink answers 550 and one suppressed produces exactly the expected events at a Python receiver,
each batch valid against docs/webhook.schema.json, signed (X-Txmail-Signature under the
account's secret), with the endpoint's Basic credentials and headers, sent from
[notifications] source_address; an SMTP message with the
notification control headers produces the same, and the control headers never reach the sink.
An account's default endpoint receives the jobs that name none."""
import base64
import os
from collections import Counter
import jsonschema
from txmail_harness import *
from webhook_receiver import WebhookReceiver, signature_ok

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../docs")
with open(os.path.join(DOCS, "webhook.schema.json")) as f:
    SCHEMA = json.load(f)

# alice sends from a domain she has not registered (allow_unverified_domains): accepted
# recipients also get a PROCESSED event saying the message goes out unsigned.
def expected(reject):
    return Counter({("ok@dest.test", "STARTED", "PROCESSING_STARTED"): 1,
                    ("ok@dest.test", "PROCESSED", "PROCESSING_FINISHED"): 1,
                    ("ok@dest.test", "DELIVERED", "OK"): 1,
                    (reject, "STARTED", "PROCESSING_STARTED"): 1,
                    (reject, "PROCESSED", "PROCESSING_FINISHED"): 1,
                    (reject, "BOUNCED", "HARD_BOUNCE"): 1,
                    ("supp@dest.test", "DROPPED", "PREVIOUSLY_BOUNCED"): 1})


def of_job(receiver, path, job):
    return [(m, n) for m, n in receiver.notifications(path) if m["jobId"] == job]


def check_batches(tx, receiver, path, job, secret, what, reject):
    got = wait_for(f"{what}: every event", lambda: (lambda l: len(l) >= 7 and l)(of_job(receiver, path, job)))
    # Nothing more may come: the dispatcher has read every event and its outbox is empty.
    wait_for("the notifications idle", lambda: notifications_idle(tx))
    got = of_job(receiver, path, job)
    seen = Counter((n["mail"]["email"], n["event"]["type"], n["event"]["subType"]) for _, n in got)
    check(seen == expected(reject), f"{what}: events {seen}")
    tags = [n["tag"] for _, n in got]
    check(len(set(tags)) == len(tags), f"{what}: a tag twice")
    for r in receiver.got(path):
        if r["body"]["meta"]["jobId"] != job:
            continue
        jsonschema.validate(r["body"], SCHEMA)
        check(signature_ok(r, secret), f"{what}: a bad signature {r['headers'].get('x-txmail-signature')}")
        check(r["headers"].get("authorization") == "Basic " + base64.b64encode(b"hook-user:hook-pass").decode(),
              f"{what}: Basic auth {r['headers'].get('authorization')}")
        check(r["headers"].get("x-test") == "yes", f"{what}: endpoint header missing")
        check(r["client"] == "127.0.0.9", f"{what}: not from [notifications] source_address: {r['client']}")
    meta = got[0][0]
    return meta, got


receiver = WebhookReceiver()
sink = Sink("127.0.0.53", free_port())
try:
    delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.53:{sink.port}"\n'
    extra = '[notifications]\nallow_private_targets = true\nsource_address = "127.0.0.9"\n'
    with Txmail(delivery=delivery, extra=extra) as tx:
        secret = http(tx, "GET", "/v2/webhooks/secret", user="alice").json["secret"]
        check(len(secret) == 64, "secret")
        check(http(tx, "GET", "/v2/webhooks/secret", user="relayer").json["secret"] != secret, "secrets per account")
        check(http(tx, "POST", "/v2/suppressions", {"email": "supp@dest.test"}, user="alice").status == 201, "suppress")

        job = {"subject": {"content": "hooks"}, "body": {"contentType": "text/plain", "content": "x"},
               "mail": {"from": {"email": "bounce@sender.test"}, "mimeFrom": {"email": "Shop <shop@sender.test>"}},
               "job": {"referenceJob": "ref-42", "campaignId": "camp-7", "costCenter": "cc-1"},
               "notification": {"endPoint": {"url": receiver.url("/rest"), "headers": {"X-Test": "yes"},
                                             "authentication": {"method": "BASIC", "user": "hook-user", "password": "hook-pass"}}},
               "recipients": [{"mail": {"to": [{"email": "ok@dest.test"}, {"email": "reject-me@dest.test"},
                                               {"email": "supp@dest.test"}]}}]}
        r = http(tx, "POST", "/v2/jobs", job, user="alice")
        check(r.status == 202, f"{r}")
        meta, got = check_batches(tx, receiver, "/rest", r.json["jobId"], secret, "REST", "reject-me@dest.test")
        check(meta["referenceJob"] == "ref-42" and meta["campaignId"] == "camp-7" and meta["costCenter"] == "cc-1"
              and meta["account"] == "alice", f"meta {meta}")
        mail = [n["mail"] for _, n in got if n["mail"]["email"] == "ok@dest.test"][0]
        check(mail["from"] == "bounce@sender.test" and mail["mimeFrom"] == "shop@sender.test"
              and mail["id"].startswith(r.json["jobId"] + "#"), f"mail {mail}")
        bounce = [n["event"] for _, n in got if n["event"]["type"] == "BOUNCED"][0]
        check("550" in bounce["description"], f"{bounce}")

        # The same over SMTP, with the control headers (both spellings); they never reach the sink.
        # (reject-me@ bounced above: it is suppressed now, so another address bounces here.)
        message = ("From: shop@sender.test\r\nTo: ok@dest.test\r\nSubject: hooks over smtp\r\n"
                   f"X-TXMAIL-NOTIFICATION-URL: {receiver.url('/smtp')}\r\n"
                   "X-TXMAIL-NOTIFICATION-HEADER: X-Test=yes\r\n"
                   "X-RETARUS-M4A-NOTIFICATION-AUTH-METHOD: BASIC\r\n"
                   "X-TXMAIL-NOTIFICATION-AUTH-USER: hook-user\r\nX-TXMAIL-NOTIFICATION-AUTH-PASSWORD: hook-pass\r\n"
                   "X-RETARUS-M4A-REFERENCE: smtp-ref\r\nX-TXMAIL-CAMPAIGN-ID: camp-8\r\nX-TXMAIL-COST-CENTER: cc-2\r\n"
                   "\r\nbody\r\n")
        code, text, smtp_job = submit_as(tx, "alice", "bounce@sender.test",
                                         ["ok@dest.test", "reject-two@dest.test", "supp@dest.test"], message)
        check(code == 250, f"{code} {text}")
        meta, _ = check_batches(tx, receiver, "/smtp", smtp_job, secret, "SMTP", "reject-two@dest.test")
        check(meta["referenceJob"] == "smtp-ref" and meta["campaignId"] == "camp-8" and meta["costCenter"] == "cc-2", f"{meta}")
        for m in sink.messages():
            check("x-txmail" not in m["data"].lower() and "x-retarus" not in m["data"].lower(),
                  "a control header reached the sink")
        check(any("hooks over smtp" in m["data"] for m in sink.messages()), "the SMTP message was delivered")
        code, text, _ = submit_as(tx, "alice", "bounce@sender.test", ["ok@dest.test"],
                                  "X-TXMAIL-NOTIFICATION-URL: ftp://nope\r\nSubject: x\r\n\r\nx\r\n")
        check(code == 550 and "5.6.0" in text and "http" in text, f"a bad control header: {code} {text}")

        # An account's default endpoint.
        put = http(tx, "PUT", "/v2/webhooks/endpoint", {"url": receiver.url("/default"),
                                                        "authentication": {"method": "BASIC", "user": "u", "password": "p"}},
                   user="relayer")
        check(put.status == 200 and "password" not in json.dumps(put.json), f"{put}")
        check(http(tx, "GET", "/v2/webhooks/endpoint", user="relayer").json["url"] == receiver.url("/default"), "get")
        relayed = submit(tx, "a@sender.test", ["ok@dest.test"], "Subject: default endpoint\r\n\r\nx\r\n")
        evs = wait_for("default endpoint", lambda: (lambda l: len(l) >= 3 and l)(of_job(receiver, "/default", relayed)))
        check(sorted(n["event"]["type"] for _, n in evs) == ["DELIVERED", "PROCESSED", "STARTED"], f"{evs}")
        relayer_secret = http(tx, "GET", "/v2/webhooks/secret", user="relayer").json["secret"]
        check(all(signature_ok(r, relayer_secret) for r in receiver.got("/default")), "default endpoint signature")
        check(http(tx, "DELETE", "/v2/webhooks/endpoint", user="relayer").status == 204, "delete endpoint")
        r = http(tx, "PUT", "/v2/webhooks/endpoint", {"url": "gopher://x"}, user="relayer")
        check(r.status == 400 and r.json["errors"][0]["path"] == "url", f"{r}")
        with open(os.path.join(tx.data_dir, "events.db"), "rb") as f:
            check(b"hook-pass" not in f.read(), "an endpoint password in the event log in clear")
finally:
    receiver.stop()
    sink.stop()
print("ok")
