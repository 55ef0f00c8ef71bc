"""Hostile base64 (issue harden-1, defect 1): padding-only or misplaced '=' once made the decoder
wrap its length around and the node abort. Every place a stranger's base64 reaches: HTTP Basic
credentials, a job's base64 body and attachment, AUTH PLAIN and LOGIN over SMTP, and a DKIM
signature's bh= in `txmail dkim verify`. Each must get a clear refusal while the same process
stays up and keeps accepting mail."""
import subprocess
from txmail_harness import *

HOSTILE = ["====", "a===", "A=A=", "ab=c"]


def job(**over):
    j = {"subject": {"content": "hello"}, "body": {"contentType": "text/plain", "content": "hi"},
         "mail": {"from": {"email": "Sender <s@sender.test>"}},
         "recipients": [{"mail": {"to": [{"email": "Anna <a@dest.test>"}]}}]}
    j.update(over)
    return j


def alive(tx, what):
    check(tx.proc.poll() is None, f"txmail ended after {what}: {tx.stderr()[-2000:]}")
    r = http(tx, "GET", "/healthz")
    check(r.status == 200, f"/healthz after {what}: {r}")


with Txmail(tls_files=True) as tx:
    for bad in HOSTILE:
        r = http(tx, "GET", "/v2/jobs/x", headers={"Authorization": "Basic " + bad})
        check(r.status == 401 and r.headers["content-type"] == "application/problem+json",
              f"Basic {bad}: {r}")
        alive(tx, f"Authorization: Basic {bad}")

        r = http(tx, "POST", "/v2/jobs", job(body={"contentType": "text/plain", "contentEncoding": "base64",
                                                    "content": bad}), user="alice")
        check(r.status == 400 and "body.content" in [e["path"] for e in r.json.get("errors", [])],
              f"base64 body {bad}: {r}")
        alive(tx, f"a base64 body {bad}")

        r = http(tx, "POST", "/v2/jobs", job(attachments=[{"name": "a.bin", "content": bad}]), user="alice")
        check(r.status == 400 and "attachments[0].content" in [e["path"] for e in r.json.get("errors", [])],
              f"attachment {bad}: {r}")
        alive(tx, f"an attachment {bad}")

        d = Dialog(tx.ports["submission"])
        d.expect(220)
        d.cmd("EHLO client.test", 250)
        d.starttls()
        d.cmd("EHLO client.test", 250)
        d.cmd("AUTH PLAIN " + bad, 501, "5.5.2")
        d.cmd("AUTH LOGIN " + bad, 501, "5.5.2")
        d.cmd("AUTH PLAIN " + auth_plain("alice", PASSWORD), 235, "2.7.0")
        d.cmd("QUIT", 221)
        alive(tx, f"AUTH PLAIN {bad}")

        message = os.path.join(tx.dir, "signed.eml")
        with open(message, "w") as f:
            f.write("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.test; s=s1;\r\n"
                    f" h=from:subject; bh={bad}; b=AAAA\r\n"
                    "From: a@sender.test\r\nSubject: x\r\n\r\nbody\r\n")
        out = subprocess.run([TXMAIL, "dkim", "verify", message, "--config", tx.config, "--json"],
                             capture_output=True, text=True, timeout=60)
        check(out.returncode in (0, 1) and "bh" in (out.stdout + out.stderr),
              f"dkim verify bh={bad}: rc={out.returncode} {out.stdout}{out.stderr}")
        check(out.returncode >= 0, f"dkim verify bh={bad} died by a signal: {out.returncode}")

    # Still the same process, and it still takes mail.
    job_id = submit_as(tx, "alice", "a@sender.test", ["b@dest.test"], "Subject: after\r\n\r\nstill here\r\n")[2]
    check(job_id is not None, "no job accepted after the hostile requests")
    r = http(tx, "POST", "/v2/jobs", job(), user="alice")
    check(r.status == 202, f"a normal job after the hostile requests: {r}")
print("ok")
