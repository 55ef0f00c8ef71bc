"""swaks submits 100 messages over STARTTLS, half with AUTH PLAIN and half with AUTH LOGIN, to
a txmail using certificate files from [tls]; each message is in the spool with its bytes
intact."""
import os
import re
import subprocess
from txmail_harness import *

with Txmail(tls_files=True) as tx:
    sent = {}
    body_dir = os.path.join(tx.dir, "bodies")
    os.makedirs(body_dir)
    for i in range(100):
        mech = "PLAIN" if i % 2 == 0 else "LOGIN"
        data = (f"From: sender{i}@sender.test\r\nTo: rcpt{i}@rcpt.test\r\nSubject: swaks message {i}\r\n"
                f"Message-ID: <swaks-{i}@client.test>\r\nDate: Fri, 27 Nov 2026 12:00:00 +0000\r\n\r\n"
                f"Body of message {i}.\r\n" + ("line %d of filler text\r\n" % i) * (i % 7) + ".leading dot\r\n")
        path = os.path.join(body_dir, f"{i}.eml")
        with open(path, "w") as f:
            f.write(data)
        out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(tx.ports["submission"]),
                              "--tls", "--auth", mech, "--auth-user", "alice", "--auth-password", PASSWORD,
                              "--from", f"sender{i}@sender.test", "--to", f"rcpt{i}@rcpt.test",
                              "--data", path, "--helo", "client.test"],
                             capture_output=True, text=True, timeout=60)
        check(out.returncode == 0, f"swaks {i} failed: {out.stdout[-800:]}")
        m = re.search(r"<~  250 2\.0\.0 Ok: queued as (\S+)", out.stdout)
        check(m is not None, f"swaks {i}: no queued reply in {out.stdout[-500:]}")
        check(f"<~  235 2.7.0" in out.stdout, f"swaks {i}: AUTH {mech} did not succeed")
        check("TLS started" in out.stdout or "<~  220 2.0.0 Ready to start TLS" in out.stdout, f"swaks {i}: no TLS")
        sent[m.group(1)] = (data.encode(), f"rcpt{i}@rcpt.test", f"sender{i}@sender.test")
    tx.stop()
    jobs = {j["job_id"]: j for j in tx.spool(messages=True)}
    check(set(jobs) == set(sent), f"spool has {len(jobs)} jobs, swaks saw {len(sent)} accepted")
    import base64
    for job, (data, rcpt, sender) in sent.items():
        j = jobs[job]
        msg = base64.b64decode(j["message_b64"])
        check(j["account"] == "alice", "account")
        check(j["sender"] == sender and [r["address"] for r in j["recipients"]] == [rcpt], "envelope")
        # swaks sends the file as given plus one CRLF of its own before the final dot; txmail adds
        # only its Received header in front.
        check(msg.startswith(b"Received: "), "Received header")
        check(b"ESMTPSA (TLSv1." in msg.split(b"\r\n\r\n")[0].replace(b"\r\n\t", b" "), "TLS in Received")
        check(msg.endswith(data + b"\r\n"), f"{job}: message bytes differ: {msg[-100:]!r}")
        check(msg.count(b"\r\nMessage-ID:") + msg.startswith(b"Message-ID:") == 1, "Message-ID added although present")
print("ok")
