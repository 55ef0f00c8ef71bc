"""Push notification endpoints are resolved through [dns] servers, as delivery's MX hosts are
(issue harden-1, item 8: the dispatcher used the system resolver). hooks.test exists only in
the test's DNS server: notifications to http://hooks.test:PORT arrive; and an endpoint whose
name resolves to a private address is still refused unless the operator allows it."""
from txmail_harness import *
from webhook_receiver import WebhookReceiver

ZONE = """$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
hooks IN A 127.0.0.1
"""


def job(url):
    return {"subject": "dns", "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "a@sender.test"}}, "notification": {"endPoint": {"url": url}},
            "recipients": [{"mail": {"to": [{"email": "c@dest.test"}]}}]}


receiver = WebhookReceiver()
try:
    with DnsServer(ZONE) as dns:
        url = f"http://hooks.test:{receiver.port}/named"
        extra = f'[dns]\nservers = ["{dns.address}"]\n[notifications]\nallow_private_targets = true\n'
        with Txmail(extra=extra) as tx:
            j = http(tx, "POST", "/v2/jobs", job(url), user="alice").json["jobId"]
            got = wait_for("a notification to hooks.test", lambda: receiver.got("/named"), timeout=30)
            check(got[0]["body"]["meta"]["jobId"] == j, f"{got[0]['body']['meta']}")
            check("hooks.test. A" in dns.queries(), f"the test DNS server was not asked: {dns.queries()}")
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n') as tx:
            http(tx, "POST", "/v2/jobs", job(f"http://hooks.test:{receiver.port}/private"), user="alice")
            wait_for("the private target refused", lambda: "resolves to 127.0.0.1" in tx.log_text(), timeout=30)
            check(not receiver.got("/private"), "a private target was posted to")
finally:
    receiver.stop()
print("ok")
