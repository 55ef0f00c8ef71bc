"""REST intake refuses what it must and nothing is queued (issue core-4, acceptance 2 and items
3, 5 and 8): CR or LF in the subject, names, x-headers or file names is 400 with the path of the
field; unknown fields are refused; limits (1,000 recipients, 500-character subject, message and
body size) answer 400 or 413; an invalid recipient is DROPPED without failing the job; the
Idempotency-Key returns the first answer and creates nothing; the per-account hourly limit
answers 429 with Retry-After over REST and 451 4.7.1 over SMTP, from one shared counter."""
import base64
from txmail_harness import *

ACCOUNTS = (f'[[account]]\nname = "alice"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\nhourly_limit = 0\n\n'
            f'[[account]]\nname = "bob"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\nhourly_limit = 0\n\n'
            f'[[account]]\nname = "strict"\npassword = "{PASSWORD}"\nhourly_limit = 0\n\n'
            f'[[account]]\nname = "limited"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\nhourly_limit = 12\n')


def job(**over):
    j = {"subject": {"content": "hello"}, "body": {"contentType": "text/plain", "content": "hi"},
         "mail": {"from": {"email": "Sender <s@sender.test>"}},
         "recipients": [{"mail": {"to": [{"email": "Anna <a@dest.test>"}]}}]}
    j.update(over)
    return j


def refused(tx, body, status, path, what, user="alice"):
    r = http(tx, "POST", "/v2/jobs", body, user=user)
    check(r.status == status, f"{what}: {r}")
    check(r.headers["content-type"] == "application/problem+json", f"{what}: {r.headers}")
    check(r.json["status"] == status and r.json["type"].startswith("/problems/"), f"{what}: {r.json}")
    if path is not None:
        paths = [e["path"] for e in r.json.get("errors", [])]
        check(path in paths, f"{what}: no error at {path}: {r.json}")
    return r


with Txmail(accounts=ACCOUNTS, http_settings="max_body = 3000000", extra="[api]\nmax_message_size = 1000000\nmax_job_size = 100000000\n") as tx:
    crlf = "x\r\nBcc: victim@evil.test"
    refused(tx, job(subject={"content": crlf}), 400, "subject.content", "CRLF in the subject")
    refused(tx, job(subject="plain\nstring"), 400, "subject", "LF in a string subject")
    refused(tx, job(recipients=[{"mail": {"to": [{"email": "Evil\r\nBcc: v@evil.test <a@dest.test>"}]}}]), 400,
            "recipients[0].mail.to[0].email", "CRLF in a name")
    refused(tx, job(mail={"from": {"email": "S\r\n <s@sender.test>"}}), 400, "mail.from.email", "CRLF in the sender")
    refused(tx, job(recipients=[{"mail": {"to": [{"email": "a@dest.test"}], "xHeaders": {"X-Tag": "v\r\nBcc: x"}}}]),
            400, "recipients[0].mail.xHeaders.X-Tag", "CRLF in an x-header")
    refused(tx, job(recipients=[{"mail": {"to": [{"email": "a@dest.test"}], "xHeaders": {"X-Bad Name": "v"}}}]),
            400, "recipients[0].mail.xHeaders.X-Bad Name", "an invalid header name")
    refused(tx, job(recipients=[{"mail": {"to": [{"email": "a@dest.test"}], "xHeaders": {"Subject": "v"}}}]),
            400, "recipients[0].mail.xHeaders.Subject", "a header that is not X-")
    refused(tx, job(attachments=[{"name": "a\r\nContent-Type: text/html", "contentType": "text/plain", "content": "eA=="}]),
            400, "attachments[0].name", "CRLF in a file name")
    refused(tx, job(attachments=[{"name": "a.txt", "contentType": "text/plain\r\nX: y", "content": "eA=="}]),
            400, "attachments[0].contentType", "CRLF in a content type")
    refused(tx, job(attachments=[{"name": "a.txt", "contentType": "text/plain", "content": "not base64!"}]),
            400, "attachments[0].content", "bad base64")
    refused(tx, job(mail={"from": {"email": "s@sender.test"}, "inReplyTo": "<a@b>\r\nX: y"}), 400, "mail.inReplyTo",
            "CRLF in inReplyTo")
    refused(tx, job(mail={"from": {"email": "s@sender.test"}, "listUnsubscribe": "https://u.test/\r\nX: y"}), 400,
            "mail.listUnsubscribe", "CRLF in listUnsubscribe")
    # Unknown fields, anywhere, are refused.
    refused(tx, job(sujet="typo"), 400, "sujet", "an unknown top-level field")
    refused(tx, job(recipients=[{"mail": {"too": [{"email": "a@dest.test"}]}}]), 400, "recipients[0].mail.too",
            "an unknown nested field")
    refused(tx, job(body={"contentType": "text/plain", "content": "x", "colour": "red"}), 400, "body.colour",
            "an unknown body field")
    refused(tx, job(subject={"content": ""}), 400, "subject.content", "an empty value")
    refused(tx, job(subject={"content": None}), 400, "subject.content", "a null value")
    refused(tx, job(mail={}), 400, "mail.from", "no sender")
    refused(tx, job(mail={"from": {"email": "not an address"}}), 400, "mail.from.email", "an invalid sender")
    refused(tx, job(body={"contentType": "text/markdown", "content": "x"}), 400, "body.contentType", "a bad body type")
    refused(tx, job(job={"features": {"openTracking": {"active": True}}}), 400, "job.features.openTracking.active",
            "tracking, which txmail does not do")
    # Limits.
    refused(tx, job(subject={"content": "é" * 501}), 400, "subject.content", "a subject over 500 characters")
    many = [{"email": f"r{i}@dest.test"} for i in range(1001)]
    refused(tx, job(recipients=[{"mail": {"to": many}}]), 400, "recipients", "1,001 recipients")
    big = base64.b64encode(b"\0" * 1_100_000).decode()
    r = refused(tx, job(attachments=[{"name": "big.bin", "contentType": "application/octet-stream", "content": big}]),
                413, None, "a composed message over [api] max_message_size")
    check("composed message" in r.json["detail"], f"{r.json}")
    # Many blocks each carrying a large attachment: refused before composing (memory bound).
    blocks = [{"mail": {"to": [{"email": f"b{i}@dest.test"}]}} for i in range(1000)]
    r = refused(tx, job(recipients=blocks, attachments=[{"name": "a.bin", "contentType": "application/octet-stream",
                                                          "content": base64.b64encode(b"\0" * 600_000).decode()}]),
                413, None, "a job whose messages together pass [api] max_job_size")
    check("1000 messages" in r.json["detail"], f"{r.json}")
    r = http(tx, "POST", "/v2/jobs", raw_body=b'{"x": "' + b"a" * 3_100_000 + b'"}', user="alice",
             headers={"Content-Type": "application/json"})
    check(r.status == 413 and r.json["type"] == "/problems/body-too-large", f"a body over http.max_body: {r}")
    r = http(tx, "POST", "/v2/jobs", raw_body=b"{not json", user="alice", headers={"Content-Type": "application/json"})
    check(r.status == 400, f"invalid JSON: {r}")
    r = http(tx, "POST", "/v2/jobs", raw_body=b"{}", user="alice", headers={"Content-Type": "text/plain"})
    check(r.status == 415, f"not JSON: {r}")
    refused(tx, job(), 403, None, "an unregistered sender domain for a strict account", user="strict")
    check(tx.spool() == [], f"something was queued: {tx.spool()}")

    # An invalid recipient is dropped, the others go ahead.
    r = http(tx, "POST", "/v2/jobs", job(recipients=[{"mail": {"to": [{"email": "ok@dest.test"}, {"email": "bad@@dest"}],
                                                                "bcc": [{"email": "ok@dest.test"}]}}]), user="alice")
    check(r.status == 202, f"{r}")
    got = [(x["email"], x["status"], x.get("reason")) for x in r.json["recipients"]]
    check(got == [("ok@dest.test", "ACCEPTED", None), ("bad@@dest", "DROPPED", "INVALID_ADDRESS"),
                  ("ok@dest.test", "DROPPED", "VALIDATION_ERROR")], f"{got}")
    status = http(tx, "GET", "/v2/jobs/" + r.json["jobId"], user="alice").json
    check(status["summary"]["DROPPED"] == 2 and status["summary"]["ACCEPTED"] == 1, f"{status}")
    check([x["subType"] for x in status["recipients"]][1] == "INVALID_ADDRESS", f"{status}")
    check(len(tx.spool()) == 1, "one job queued")

    # Idempotency keys: the first answer again, nothing new; another body is refused; another
    # account has keys of its own.
    first = http(tx, "POST", "/v2/jobs", job(), user="alice", headers={"Idempotency-Key": "order-42"})
    check(first.status == 202, f"{first}")
    again = http(tx, "POST", "/v2/jobs", job(), user="alice", headers={"Idempotency-Key": "order-42"})
    check(again.status == 202 and again.body == first.body, f"replay {again}")
    check(again.headers.get("idempotency-replayed") == "true", f"{again.headers}")
    check(len(tx.spool()) == 2, "the replay queued something")
    other = http(tx, "POST", "/v2/jobs", job(subject={"content": "different"}), user="alice",
                 headers={"Idempotency-Key": "order-42"})
    check(other.status == 422, f"key reused for another body: {other}")
    bob = http(tx, "POST", "/v2/jobs", job(), user="bob", headers={"Idempotency-Key": "order-42"})
    check(bob.status == 202 and bob.json["jobId"] != first.json["jobId"], f"{bob}")
    check(len(tx.spool()) == 3, "another account's key")

    # What one request may hold many of is bounded before it is built: blocks (each would copy the
    # job's 50 x-headers), x-headers, attachments, and the errors listed in the answer.
    queued = len(tx.spool())
    many_headers = {f"X-H{i}": "v" * 900 for i in range(50)}
    r = refused(tx, job(mail={"from": {"email": "s@sender.test"}, "xHeaders": many_headers},
                        recipients=[{}] * 20000), 400, "recipients", "20,000 empty blocks")
    check("20000 blocks; at most 1000" in json.dumps(r.json), f"the blocks' limit is not named: {r.json}")
    r = refused(tx, job(recipients=[{"mail": {"to": [{"email": "not an address"}]}, "bad": 1}] * 900), 400, None,
                "900 blocks with an unknown field each")
    check(len(r.json["errors"]) == 101 and r.json["errors"][-1]["message"] == "more errors are not listed",
          f"the errors listed: {len(r.json['errors'])}: {r.json['errors'][-1]}")
    refused(tx, job(mail={"from": {"email": "s@sender.test"}, "xHeaders": dict(many_headers, **{"X-One-More": "v"})}),
            400, "mail.xHeaders", "51 x-headers")
    refused(tx, job(attachments=[{"name": f"a{i}.txt", "content": "eA=="} for i in range(101)]), 400, "attachments",
            "101 attachments")
    check(http(tx, "POST", "/v2/jobs", job(attachments=[{"name": f"a{i}.txt", "content": "eA=="} for i in range(100)],
                                           mail={"from": {"email": "s@sender.test"}, "xHeaders": many_headers}),
               user="alice").status == 202, "100 attachments and 50 x-headers")
    check(len(tx.spool()) == queued + 1, "a refused request queued something")

    # The hourly limit: 12 an hour is 2 per 5-minute window (25% tolerance), REST and SMTP together.
    check(http(tx, "POST", "/v2/jobs", job(), user="limited").status == 202, "first request")
    d = submission_session(tx, "limited")
    d.cmd("MAIL FROM:<s@sender.test>", 250)
    d.cmd("RCPT TO:<a@dest.test>", 250)
    d.cmd("DATA", 354)
    d.send("Subject: x\r\n\r\nx\r\n.\r\n")
    d.expect(250)
    r = http(tx, "POST", "/v2/jobs", job(), user="limited")
    check(r.status == 429 and r.json["code"] == "LIMIT_EXCEEDED", f"third request: {r}")
    check(1 <= int(r.headers["retry-after"]) <= 300, f"Retry-After {r.headers}")
    d.cmd("MAIL FROM:<s@sender.test>", 451, "4.7.1")
    d.cmd("QUIT", 221)
    check(http(tx, "POST", "/v2/jobs", job(), user="alice").status == 202, "another account is not limited")
print("ok")
