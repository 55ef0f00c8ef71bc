"""What comes back to the return path (issue bounce-1, items 2-4, first part): an inbound listener
([[smtp.listener]] mode = "inbound") takes mail for the return paths this node made and nothing
else. A job is delivered to a sink, then a DSN (Postfix's layout, tests/reports/postfix-dsn.eml)
comes back to the recipient's return path: the recipient's events end BOUNCED/HARD_BOUNCE after
DELIVERED, with the DSN's status, the address is suppressed, and the next job to it is dropped
PREVIOUSLY_BOUNCED. A forged token, another domain and a relay attempt are refused at RCPT
(550 5.1.1); an automatic reply to a valid return path is accepted and is no bounce."""
import smtplib

from txmail_harness import *

BOUNCES = "bounces.txmail.test"
HERE = os.path.dirname(os.path.abspath(__file__))


def job(subject, to):
    return {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "orders@shop.test"}}, "recipients": [{"mail": {"to": [{"email": to}]}}]}


def example(name, **replace):
    with open(os.path.join(HERE, "..", "reports", name)) as f:
        text = f.read()
    for old, new in replace.items():
        text = text.replace(old.replace("_", "-"), new)
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def send_inbound(tx, rcpt, message):
    with smtplib.SMTP("127.0.0.1", tx.ports["inbound"], timeout=10) as s:
        s.ehlo("mx.dest.test")
        s.mail("<>")
        code, text = s.rcpt(rcpt)
        if code != 250:
            return code, text
        return s.data(message.encode())


def statuses(tx, job_id):
    r = http(tx, "GET", f"/v2/jobs/{job_id}", user="alice")
    return [(x["status"], x.get("subType")) for x in r.json["recipients"]]


sink = Sink("127.0.0.43", free_port())
try:
    delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.43:{sink.port}"\n'
    extra = f'[bounces]\ndomain = "{BOUNCES}"\n[[smtp.listener]]\naddress = "127.0.0.1:0"\nmode = "inbound"\n'
    with Txmail(extra=extra, delivery=delivery) as tx:
        sent = http(tx, "POST", "/v2/jobs", job("order", "nobody@dest.test"), user="alice")
        check(sent.status == 202, f"{sent}")
        job_id = sent.json["jobId"]
        wait_for("delivered", lambda: statuses(tx, job_id) == [("DELIVERED", "OK")])
        return_path = sink.messages()[-1]["mail_from"]
        check(return_path.endswith("@" + BOUNCES), f"return path {return_path}")

        # Refused at RCPT: a forged token, another domain, a relay attempt.
        local = return_path.split("@")[0]
        forged = local[:12] + ("a" if local[12] != "a" else "b") + local[13:] + "@" + BOUNCES
        for rcpt in (forged, local + "@other.test", "someone@dest.test", "postmaster@" + BOUNCES):
            code, text = send_inbound(tx, rcpt, "Subject: x\r\n\r\nx\r\n")
            check(code == 550 and b"5.1.1" in text, f"RCPT {rcpt}: {code} {text}")
        check(metric(tx, "txmail_inbound_rejected_total") == 4,
              f"refusals counted: {metric(tx, 'txmail_inbound_rejected_total')} of 4")
        check(metric(tx, "txmail_inbound_bounces_total") == 0, "a refused bounce made an event")

        # An automatic reply to the return path: accepted, and nothing happens to the recipient.
        code, _ = send_inbound(tx, return_path, example("auto-reply.eml"))
        check(code == 250, f"auto-reply: {code}")
        check(statuses(tx, job_id) == [("DELIVERED", "OK")], f"after an auto-reply: {statuses(tx, job_id)}")

        # The DSN: a hard bounce after delivery.
        code, text = send_inbound(tx, return_path, example("postfix-dsn.eml"))
        check(code == 250, f"DSN: {code} {text}")
        wait_for("BOUNCED after DELIVERED", lambda: statuses(tx, job_id) == [("BOUNCED", "HARD_BOUNCE")])
        mail_id = sent.json["recipients"][0]["mailId"]
        events = http(tx, "GET", f"/v2/messages/{mail_id}", user="alice").json["events"]
        kinds = [(e["state"], e["type"]) for e in events]
        check(kinds.index(("FINISHED", "DELIVERED")) < kinds.index(("FINISHED", "BOUNCED")), f"{kinds}")
        bounce = [e for e in events if e["type"] == "BOUNCED"][0]
        check("5.1.1" in bounce["description"] and "unknown user" in bounce["description"], f"{bounce}")
        wait_for("the address suppressed", lambda: http(
            tx, "GET", "/v2/suppressions/nobody@dest.test", user="alice").status == 200)
        again = http(tx, "POST", "/v2/jobs", job("again", "nobody@dest.test"), user="alice")
        check([(x["status"], x.get("reason")) for x in again.json["recipients"]] == [("DROPPED", "PREVIOUSLY_BOUNCED")],
              f"the next job: {again}")
        print(f"DSN at the return path -> {bounce['description']!r}; next job dropped PREVIOUSLY_BOUNCED")
finally:
    sink.stop()
print("ok")
