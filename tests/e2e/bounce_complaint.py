"""Complaints and unreadable messages at the inbound listener (issue bounce-1, items 3 and 4). A job
is delivered to a sink; an ARF feedback report in RFC 5965's layout (section 3: a human part, a
message/feedback-report part, the original message) about it comes back to the recipient's
return path: the recipient gets POST_PROCESS/POST_DELIVERY/COMPLAINED/COMPLAINT after DELIVERED,
with the feedback type, user agent and reporting MTA, in the status API, in `txmail events` and at
the job's notification endpoint (each batch valid against docs/webhook.schema.json); the address
is suppressed as COMPLAINT for that account only, and the next job to it is dropped
PREVIOUSLY_COMPLAINED. A second report about the same mail is no second event. A report that lost
its return path (sent to [bounces] feedback_address) finds its mail by the original's
Return-Path. Messages that are no report at all are kept in the bounded store (kept_messages = 2:
the oldest goes), counted in /metrics, and read back with `txmail inbound list|show`."""
import smtplib
import subprocess

import jsonschema
from txmail_harness import *
from webhook_receiver import WebhookReceiver

BOUNCES = "bounces.txmail.test"
FEEDBACK = "fbl@" + BOUNCES
DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../docs")
with open(os.path.join(DOCS, "webhook.schema.json")) as f:
    SCHEMA = json.load(f)


def job(subject, to, hook=None):
    j = {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "x"},
         "mail": {"from": {"email": "orders@shop.test"}}, "recipients": [{"mail": {"to": [{"email": to}]}}]}
    if hook:
        j["notification"] = {"endPoint": {"url": hook}}
    return j


def send_inbound(tx, rcpt, message):
    with smtplib.SMTP("127.0.0.1", tx.ports["inbound"], timeout=10) as s:
        s.ehlo("fbl.isp.example")
        s.mail("<>")
        code, text = s.rcpt(rcpt)
        check(code == 250, f"RCPT {rcpt}: {code} {text}")
        return s.data(message.encode())


def arf(original, original_mail_from=None, original_rcpt_to=None):
    """A feedback report in RFC 5965's layout (its section 3 example), returning `original`."""
    machine = "Feedback-Type: abuse\r\nUser-Agent: IspFeedback/2.1\r\nVersion: 1\r\n"
    if original_mail_from:
        machine += f"Original-Mail-From: <{original_mail_from}>\r\n"
    if original_rcpt_to:
        machine += f"Original-Rcpt-To: <{original_rcpt_to}>\r\n"
    machine += ("Arrival-Date: Thu, 8 Mar 2005 14:00:00 EDT\r\nReporting-MTA: dns; fbl.isp.example\r\n"
                "Source-IP: 127.0.0.46\r\n")
    return ("From: <abusedesk@isp.example>\r\nDate: Thu, 8 Mar 2005 17:40:36 EDT\r\nSubject: FW: complaint\r\n"
            f"To: <{FEEDBACK}>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report;\r\n"
            "     boundary=\"part1_13d.2e68ed54_boundary\"\r\n\r\n"
            "--part1_13d.2e68ed54_boundary\r\nContent-Type: text/plain; charset=\"US-ASCII\"\r\n"
            "Content-Transfer-Encoding: 7bit\r\n\r\n"
            "This is an email abuse report for an email message received from IP 127.0.0.46.\r\n\r\n"
            "--part1_13d.2e68ed54_boundary\r\nContent-Type: message/feedback-report\r\n\r\n"
            + machine + "\r\n"
            "--part1_13d.2e68ed54_boundary\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
            + original.rstrip("\r\n") + "\r\n"
            "--part1_13d.2e68ed54_boundary--\r\n")


def delivered(tx, sink, to, hook=None):
    """Sends a job to `to` and waits until the sink has it: (job answer, return path, message)."""
    sent = http(tx, "POST", "/v2/jobs", job("order for " + to, to, hook), user="alice")
    check(sent.status == 202, f"{sent}")
    mail_id = sent.json["recipients"][0]["mailId"]
    wait_for(f"{to} delivered", lambda: http(tx, "GET", f"/v2/messages/{mail_id}", user="alice").json["status"]
             == "DELIVERED")
    got = [m for m in sink.messages() if m["rcpt_tos"] == [to]]
    check(len(got) == 1, f"the sink has {len(got)} messages for {to}")
    check(got[0]["mail_from"].endswith("@" + BOUNCES), f"return path {got[0]['mail_from']}")
    return sent.json, got[0]["mail_from"], got[0]["data"].replace("\r\n", "\n").replace("\n", "\r\n")


def message_events(tx, mail_id):
    return http(tx, "GET", f"/v2/messages/{mail_id}", user="alice").json["events"]


def complaints(tx, mail_id):
    return [e for e in message_events(tx, mail_id) if e["type"] == "COMPLAINED"]


def inbound_cli(tx, *args):
    out = subprocess.run([TXMAIL, "inbound", *args, "--data-dir", tx.data_dir], capture_output=True, timeout=60)
    check(out.returncode == 0, f"txmail inbound {' '.join(args)}: {out.stderr.decode(errors='replace')}")
    return out.stdout


receiver = WebhookReceiver()
sink = Sink("127.0.0.46", free_port())
try:
    delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.46:{sink.port}"\n'
    extra = (f'[bounces]\ndomain = "{BOUNCES}"\nfeedback_address = "{FEEDBACK}"\nkept_messages = 2\n'
             '[suppression]\ncomplaint_ttl = "30d"\n'
             '[notifications]\nallow_private_targets = true\n'
             '[[smtp.listener]]\naddress = "127.0.0.1:0"\nmode = "inbound"\n')
    with Txmail(extra=extra, delivery=delivery) as tx:
        # 1. A complaint at the return path.
        first, return_path, original = delivered(tx, sink, "reader@dest.test", receiver.url("/hook"))
        job_id, mail_id = first["jobId"], first["recipients"][0]["mailId"]
        code, text = send_inbound(tx, return_path, arf(original, return_path, "reader@dest.test"))
        check(code == 250, f"ARF: {code} {text}")
        wait_for("COMPLAINED after DELIVERED", lambda: complaints(tx, mail_id))
        kinds = [(e["phase"], e["state"], e["type"], e["subType"]) for e in message_events(tx, mail_id)]
        check(kinds.index(("DELIVER", "FINISHED", "DELIVERED", "OK"))
              < kinds.index(("POST_PROCESS", "POST_DELIVERY", "COMPLAINED", "COMPLAINT")), f"{kinds}")
        complaint = complaints(tx, mail_id)[0]
        check(complaint["description"] == "fbl.isp.example: feedback report: type=abuse, user-agent=IspFeedback/2.1",
              f"{complaint}")
        cli_events = events(tx, job_id, phase="POST_PROCESS", type="COMPLAINED")
        check(len(cli_events) == 1 and cli_events[0]["recipient"] == "reader@dest.test"
              and cli_events[0]["subType"] == "COMPLAINT", f"txmail events: {cli_events}")
        pushed = wait_for("the notification", lambda: [n for _, n in receiver.notifications("/hook")
                                                        if n["event"]["type"] == "COMPLAINED"])
        check(pushed[0]["mail"]["id"] == mail_id and pushed[0]["mail"]["email"] == "reader@dest.test"
              and "type=abuse" in pushed[0]["event"]["description"], f"notification {pushed}")
        for r in receiver.got("/hook"):
            jsonschema.validate(r["body"], SCHEMA)

        # The address is suppressed for alice only, as COMPLAINT for complaint_ttl.
        entry = wait_for("the suppression", lambda: (lambda r: r.status == 200 and r.json)(
            http(tx, "GET", "/v2/suppressions/reader@dest.test", user="alice")))
        check(entry["type"] == "COMPLAINT" and entry["source"] == "complaint" and "abuse" in entry["reason"], f"{entry}")
        check(http(tx, "GET", "/v2/suppressions/reader@dest.test", user="relayer").status == 404,
              "another account's list has it")

        # A second report about the same mail: accepted and counted, no second event.
        before = metric(tx, "txmail_inbound_complaints_total")
        code, _ = send_inbound(tx, return_path, arf(original, return_path))
        check(code == 250 and metric(tx, "txmail_inbound_complaints_total") == before + 1, "second report")

        # The next job to the address is dropped with the complaint as the reason.
        again = http(tx, "POST", "/v2/jobs", job("again", "reader@dest.test", receiver.url("/hook")), user="alice")
        check([(x["status"], x.get("reason")) for x in again.json["recipients"]] == [("DROPPED", "PREVIOUSLY_COMPLAINED")],
              f"the next job: {again}")
        dropped = wait_for("the DROPPED notification", lambda: [
            n for m, n in receiver.notifications("/hook") if m["jobId"] == again.json["jobId"]])
        check(dropped[0]["event"]["subType"] == "PREVIOUSLY_COMPLAINED" and "abuse" in dropped[0]["event"]["description"],
              f"{dropped}")
        # The log stores in order: the DROPPED event is there, so a second COMPLAINED would be.
        check(len(complaints(tx, mail_id)) == 1, f"complaints: {complaints(tx, mail_id)}")
        check(len([n for _, n in receiver.notifications("/hook") if n["event"]["type"] == "COMPLAINED"]) == 1,
              "a second COMPLAINED notification")
        print(f"ARF at the return path -> {complaint['description']!r}; next job dropped PREVIOUSLY_COMPLAINED")

        # 2. A report whose return path was lost: sent to the feedback address, without
        # Original-Mail-From; the original carries the Return-Path the receiving server added.
        second, return_path2, original2 = delivered(tx, sink, "other@dest.test")
        mail_id2 = second["recipients"][0]["mailId"]
        code, _ = send_inbound(tx, FEEDBACK, arf(f"Return-Path: <{return_path2}>\r\n" + original2))
        check(code == 250, f"ARF to the feedback address: {code}")
        wait_for("COMPLAINED by the original's Return-Path", lambda: complaints(tx, mail_id2))
        wait_for("other@ suppressed", lambda: http(
            tx, "GET", "/v2/suppressions/other@dest.test", user="alice").status == 200)

        # 3. Messages that are no report: kept (at most two), counted.
        for n in range(1, 4):
            code, _ = send_inbound(tx, return_path2, f"Subject: unreadable {n}\r\nFrom: <x@isp.example>\r\n\r\n"
                                                     f"what is this {n}\r\n")
            check(code == 250, f"unreadable {n}: {code}")
        check(metric(tx, "txmail_inbound_unreadable_total") == 3, "unreadable counted")
        check(metric(tx, "txmail_inbound_kept_messages") == 2, "kept bounded by count")
        check(metric(tx, "txmail_inbound_kept_dropped_total") == 1, "the oldest dropped")
        kept = json.loads(inbound_cli(tx, "list"))
        check([k["subject"] for k in kept] == ["unreadable 2", "unreadable 3"], f"txmail inbound list: {kept}")
        check(metric(tx, "txmail_inbound_kept_bytes") == sum(k["bytes"] for k in kept), "kept bytes")
        shown = inbound_cli(tx, "show", kept[-1]["id"])
        check(b"what is this 3" in shown, f"txmail inbound show: {shown[:300]!r}")
        print(f"unreadable messages kept: {[k['id'] for k in kept]}")
finally:
    sink.stop()
    receiver.stop()
print("ok")
