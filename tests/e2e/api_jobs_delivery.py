"""REST end to end (issue core-4, acceptance 3): a job posted with an API key is composed,
DKIM-signed for the account's verified domain (the signature verifies with python3-dkim against
the test DNS server), delivered through the delivery engine to a sink, and GET /v2/jobs/{id}
ends with every recipient DELIVERED (a 550 one BOUNCED); GET /v2/messages/{mailId} lists a
recipient's events; another account gets 404 for the job and its messages, as for an unknown
id; an SMTP job is visible in the status API too."""
import dkim as pydkim
from txmail_harness import *
from dkim_check import txt_lookup

ACCOUNTS = (f'[[account]]\nname = "shop"\npassword = "{PASSWORD}"\nhourly_limit = 0\n\n'
            f'[[account]]\nname = "other"\npassword = "{PASSWORD}"\nhourly_limit = 0\n')

sink = Sink("127.0.0.41", free_port())
try:
    with DnsServer(txt_zone([])) as dns:
        delivery = (f'idle_connection = "200ms"\nretry_schedule = ["1s"]\n'
                    f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.41:{sink.port}"\n')
        extra = f'[dns]\nservers = ["{dns.address}"]\n[publish]\nzone = "svc.test"\n'
        with Txmail(extra=extra, accounts=ACCOUNTS, delivery=delivery) as tx:
            admin = admin_token(tx)
            key = http(tx, "POST", "/v2/admin/accounts/shop/keys", {"name": "ci"}, token=admin)
            check(key.status == 201 and key.json["key"].startswith("txm_"), f"{key}")
            api_key = key.json["key"]
            added = http(tx, "POST", "/v2/domains", {"domain": "shop.test"}, key=api_key)
            check(added.status == 201, f"{added}")
            dns.update(txt_zone([(r["name"], r["value"]) for r in added.json["records"]]))
            verified = http(tx, "POST", "/v2/domains/shop.test/verify", key=api_key)
            check(verified.status == 200 and verified.json["verified"], f"{verified}")

            job = {"subject": {"content": "Your order ✓"},
                   "body": {"contentType": "text/html", "content": "<p>Thanks for your order</p>"},
                   "alternative": {"content": "Thanks for your order"},
                   "mail": {"from": {"email": "bounce@shop.test"}, "mimeFrom": {"email": "Shop <orders@shop.test>"}},
                   "recipients": [{"mail": {"to": [{"email": "Ann <ann@dest.test>"}, {"email": "reject-me@dest.test"}]}},
                                  {"mail": {"to": [{"email": "bo@dest.test"}], "bcc": [{"email": "audit@dest.test"}]}}]}
            r = http(tx, "POST", "/v2/jobs", job, key=api_key)
            check(r.status == 202 and r.headers["location"] == "/v2/jobs/" + r.json["jobId"], f"{r}")
            job_id = r.json["jobId"]
            mail_ids = {x["email"]: x["mailId"] for x in r.json["recipients"]}
            check(mail_ids["bo@dest.test"] == f"{job_id}#00000001#00000000", f"{mail_ids}")
            first = http(tx, "GET", f"/v2/jobs/{job_id}", key=api_key)
            check(first.status == 200 and first.json["summary"]["total"] == 4, f"right after 202: {first}")

            def final():
                s = http(tx, "GET", f"/v2/jobs/{job_id}", key=api_key).json
                return s if s["finished"] else None
            status = wait_for("every recipient final", final)
            by = {x["email"]: x["status"] for x in status["recipients"]}
            check(by == {"ann@dest.test": "DELIVERED", "reject-me@dest.test": "BOUNCED", "bo@dest.test": "DELIVERED",
                         "audit@dest.test": "DELIVERED"}, f"{by}")
            check(status["summary"]["DELIVERED"] == 3 and status["summary"]["BOUNCED"] == 1, f"{status['summary']}")

            got = sink.messages()
            check(sorted(r for m in got for r in m["rcpt_tos"]) == ["ann@dest.test", "audit@dest.test", "bo@dest.test"],
                  f"{[m['rcpt_tos'] for m in got]}")
            for m in got:
                raw = m["data"].encode("utf-8", "surrogateescape")
                check(m["mail_from"] == "bounce@shop.test", f"envelope sender {m['mail_from']}")
                check(pydkim.DKIM(raw).verify(dnsfunc=txt_lookup(dns.port)), "the DKIM signature does not verify")
                check(b"audit@dest.test" not in raw, "the Bcc address is in the message")
                check(b"Thanks for your order" in raw, "body")

            msg = http(tx, "GET", "/v2/messages/" + mail_ids["ann@dest.test"].replace("#", "%23"), key=api_key)
            check(msg.status == 200, f"{msg}")
            check([(e["type"], e["subType"]) for e in msg.json["events"]] == [("STARTED", "PROCESSING_STARTED"),
                                                                               ("DELIVERED", "OK")], f"{msg.json}")
            check(msg.json["events"][-1]["remoteHost"].endswith("[127.0.0.41]"), f"{msg.json}")
            bounced = http(tx, "GET", "/v2/messages/" + mail_ids["reject-me@dest.test"].replace("#", "%23"), user="shop")
            check(bounced.json["status"] == "BOUNCED" and "550" in bounced.json["events"][-1]["description"], f"{bounced}")

            # Tenants are isolated: another account sees nothing, exactly as for an unknown id.
            for path in (f"/v2/jobs/{job_id}", "/v2/messages/" + mail_ids["ann@dest.test"].replace("#", "%23")):
                other = http(tx, "GET", path, user="other")
                check(other.status == 404 and other.json["type"] == "/problems/not-found", f"{path}: {other}")
            unknown = http(tx, "GET", "/v2/jobs/01a21fe8-133d-7b7d-90d9-ce4c3ddb2567", user="other")
            check(unknown.status == 404 and unknown.json["title"] == other.json["title"], f"{unknown}")
            check(http(tx, "GET", f"/v2/jobs/{job_id}", token=admin).status == 200, "the operator sees every job")
            # Another account may not send from shop.test (nor use its keys).
            r = http(tx, "POST", "/v2/jobs", job, user="other")
            check(r.status == 403 and r.json["type"] == "/problems/sender-domain", f"{r}")

            # An SMTP job shows in the status API too.
            code, text, smtp_job = submit_as(tx, "shop", "bounce@shop.test", ["smtp@dest.test"],
                                             "From: orders@shop.test\r\nTo: smtp@dest.test\r\nSubject: smtp\r\n\r\nx\r\n")
            check(code == 250, f"{code} {text}")
            s = wait_for("the SMTP job delivered", lambda: (lambda j: j.get("finished") and j)(
                http(tx, "GET", f"/v2/jobs/{smtp_job}", user="shop").json))
            check([x["status"] for x in s["recipients"]] == ["DELIVERED"], f"{s}")
finally:
    sink.stop()
print("ok")
