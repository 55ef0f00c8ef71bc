"""Delivery through MX: a message submitted with swaks arrives at the MX (a real SMTP server
found through a real DNS server) with its body intact; a recipient the MX answers 450 is
deferred and delivered on a later attempt; 550 bounces at once; each outcome is an event;
the job leaves the spool when every recipient is final."""
import re
import subprocess
from txmail_harness import *

PORT = free_port()
ZONE = f"""$ORIGIN test.
$TTL 60
@ IN SOA ns.test. admin.test. 1 3600 600 86400 60
dest IN MX 10 mx.dest.test.
mx.dest IN A 127.0.0.21
"""

sink = Sink("127.0.0.21", PORT)
try:
    with DnsServer(ZONE) as dns:
        delivery = f'mx_port = {PORT}\nretry_schedule = ["1s"]\nretry_every = "1s"\nidle_connection = "200ms"\n'
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n', delivery=delivery) as tx:
            body = ("From: a@sender.test\r\nTo: many@dest.test\r\nSubject: delivery test\r\n\r\n"
                    "Line one\r\n.leading dot survives\r\n\r\nLast line\r\n")
            data_file = os.path.join(tx.dir, "message.eml")
            with open(data_file, "w") as f:
                f.write(body)
            out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(tx.ports["relay"]),
                                  "--local-interface", ALLOWED_IP, "--from", "a@sender.test",
                                  "--to", "ok@dest.test,later@dest.test,reject@dest.test", "--data", data_file,
                                  "--helo", "client.test"], capture_output=True, text=True, timeout=60)
            m = re.search(r"<[~-]  250 2\.0\.0 Ok: queued as (\S+)", out.stdout)
            check(out.returncode == 0 and m is not None, f"swaks failed: {out.stdout[-600:]}")
            job = m.group(1)
            body += "\r\n"  # swaks adds one CRLF of its own before the final dot
            got = wait_for("two deliveries", lambda: len(sink.messages()) >= 2 and sink.messages())
            first, second = got[0], got[1]
            check(first["rcpt_tos"] == ["ok@dest.test"], f"first delivery {first['rcpt_tos']}")
            check(second["rcpt_tos"] == ["later@dest.test"], f"retry {second['rcpt_tos']}")
            check(first["mail_from"] == "a@sender.test", "envelope sender")
            check(first["data"].endswith(body), f"body changed: {first['data'][-120:]!r}")
            check(f"id {job}" in first["data"], "Received header with the job id")
            evs = wait_for("final events", lambda: (lambda e: len(e) >= 4 and e)(events(tx, job)))
            by = {}
            for e in evs:
                by.setdefault(e["recipient"], []).append((e["type"], e["subType"], e["attempt"]))
            check(by["ok@dest.test"] == [("DELIVERED", "OK", 1)], f"ok events {by}")
            check(by["reject@dest.test"] == [("BOUNCED", "HARD_BOUNCE", 1)], f"reject events {by}")
            check(by["later@dest.test"] == [("DEFERRED", "SOFT_BOUNCE", 1), ("DELIVERED", "OK", 2)],
                  f"later events {by}")
            ok = [e for e in evs if e["recipient"] == "ok@dest.test"][0]
            check(ok["remoteHost"] == "mx.dest.test[127.0.0.21]" and ok["reply"].startswith("250 2.0.0"), f"{ok}")
            check(ok["mailId"] == job + "#00000000#00000000", ok["mailId"])
            bounce = [e for e in evs if e["recipient"] == "reject@dest.test"][0]
            check("550 5.1.1" in bounce["reply"], f"bounce reply {bounce}")
            check(tx.stop() == 0, "txmail did not stop cleanly")
            check(tx.spool() == [], "the job is still in the spool though every recipient is final")
finally:
    sink.stop()
print("ok")
