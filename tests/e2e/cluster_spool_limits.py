"""A job whose envelope and recipients alone are more than one NATS message holds (issue site-2;
the region's max_payload is 1 MB here). The cluster spool keeps a job's recipients in one
message of the stream, so such a job could never be stored there.

- REST: a job to 6,000 long addresses is refused at once with 413 and the problem type
  /problems/too-many-recipients, which names the limit (not a 503 "try again" after the
  publish timeout, which a client would retry for good).
- SMTP: the same recipients in one transaction: RCPT is answered 452 4.5.3 once the job's
  record would be over the limit (not 552 at the end of data, which a relaying MTA turns into a
  bounce to every recipient). The client sends what was accepted, then the rest in a second
  transaction: both are accepted and every recipient gets the message once.
- Nothing of the REST job reaches the stream; a job of ordinary size is accepted right after at
  the same node (202 and 250), delivered, and removed from the stream."""
import smtplib

from txmail_harness import *

RECIPIENTS = 6000


def run(*args):
    return subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=60)


def address(i):
    # A 64-octet local part and a 125-octet domain: about 256 octets each in the record with the
    # recipient's other fields, 1.5 MB for them all.
    return f"r{i:06d}{'x' * 57}@{'d' * 60}.{'e' * 60}.test"


sink = Sink("127.0.0.53", free_port())
try:
    with NatsRegion(max_payload="1MB") as region:
        key = os.path.join(region.dir, "cluster.key")
        check(run("cluster", "keygen", key).returncode == 0, "keygen")
        cluster = (f'[cluster]\nnats = ["{region.url("a")}"]\nmaster_key_file = "{key}"\n'
                   f'timeout = "2s"\npublish_timeout = "3s"\nsites = ["a", "b"]\n')
        delivery = (f'mx_port = {sink.port}\nidle_connection = "100ms"\n'
                    f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.53:{sink.port}"\n')
        a = Txmail(name="node-a", node_settings='site = "a"\nregion = "r1"', tls_files=True, delivery=delivery,
                   smtp_settings=f"max_recipients = {RECIPIENTS + 10}",
                   extra=f"[api]\nmax_recipients = {RECIPIENTS + 10}\n" + cluster)
        check(run("cluster", "init", "--config", a.config).returncode == 0, "init")
        with a:
            everyone = [address(i) for i in range(RECIPIENTS)]
            job = {"subject": {"content": "to everyone"}, "body": {"contentType": "text/plain", "content": "Hello"},
                   "mail": {"from": {"email": "shop@example.com"}},
                   "recipients": [{"mail": {"to": [{"email": e} for e in everyone]}}]}
            started = time.monotonic()
            r = http(a, "POST", "/v2/jobs", job, user="alice")
            took = time.monotonic() - started
            check(r.status == 413 and r.json.get("type") == "/problems/too-many-recipients", f"REST: {r}")
            check("max_payload" in r.json.get("detail", ""), f"the problem names no limit: {r.json}")
            print(f"REST, {RECIPIENTS} recipients: {r.status} in {took:.1f} s: {r.json['detail']}")

            message = ("From: shop@example.com\r\nTo: undisclosed-recipients:;\r\nSubject: to everyone\r\n"
                       "Message-ID: <everyone@example.com>\r\n\r\nHello\r\n")
            check(spool_values(a)["TXMAIL_SPOOL_a"] == 0, f"the stream holds parts of it: {spool_values(a)}")
            transactions = []
            rest = everyone
            with smtplib.SMTP("127.0.0.1", a.ports["relay"], timeout=120, source_address=(ALLOWED_IP, 0)) as s:
                s.ehlo()
                while rest:
                    check(len(transactions) < 3, f"still {len(rest)} recipients after {transactions}")
                    s.mail("shop@example.com")
                    accepted, refused = [], []
                    for e in rest:
                        code, text = s.rcpt(e)
                        if code == 250:
                            check(not refused, f"RCPT {e} accepted after one was refused")
                            accepted.append(e)
                        else:
                            check(code == 452 and text.startswith(b"4.5.3"), f"RCPT {e}: {code} {text}")
                            refused.append(e)
                    check(accepted, f"no recipient of {len(rest)} accepted")
                    code, text = s.data(message)
                    check(code == 250, f"SMTP end of data, {len(accepted)} recipients: {code} {text}")
                    transactions.append(len(accepted))
                    rest = refused
            check(len(transactions) == 2, f"one transaction took them all: {transactions}")
            print(f"SMTP, {RECIPIENTS} recipients: 452 4.5.3 after {transactions[0]}, sent in transactions of "
                  f"{transactions}")

            # A job of ordinary size goes through, and leaves the stream once delivered.
            small = dict(job, recipients=[{"mail": {"to": [{"email": "ann@dest.test"}]}}])
            small["subject"] = {"content": "to ann"}
            r = http(a, "POST", "/v2/jobs", small, user="alice")
            check(r.status == 202, f"an ordinary job after them: {r}")
            with smtplib.SMTP("127.0.0.1", a.ports["relay"], timeout=30, source_address=(ALLOWED_IP, 0)) as s:
                s.sendmail("shop@example.com", ["bo@dest.test"],
                           "From: shop@example.com\r\nTo: bo@dest.test\r\nSubject: to bo\r\n\r\nHi\r\n")
            wait_for("both ordinary messages at the sink", lambda: sum(
                1 for m in sink.messages() if "Subject: to ann\r\n" in m["data"] or "Subject: to bo\r\n" in m["data"]) == 2,
                timeout=60)

            def everyone_reached():
                got = [r for m in sink.messages() if "Subject: to everyone" in m["data"] for r in m["rcpt_tos"]]
                check(len(got) == len(set(got)), f"{len(got) - len(set(got))} recipients got it twice")
                return sorted(got) == sorted(everyone)
            wait_for("the SMTP message to each of the recipients once", everyone_reached, timeout=300)
            wait_for("an empty spool stream, nothing left to remove",
                     lambda: spool_values(a)["TXMAIL_SPOOL_a"] == 0 and metric(a, "txmail_cluster_stream_pending") == 0,
                     timeout=60)
            check(a.stop() == 0, "node-a did not stop cleanly")
finally:
    sink.stop()
print("ok")
