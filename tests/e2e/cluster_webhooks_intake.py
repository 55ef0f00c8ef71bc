"""A job whose node dies right after accepting it is notified of in full by the other site (issue
site-3, items 1 and 2): two nodes, site a (notifications from 127.0.0.2) and site b (from
127.0.0.3), of a region on loopback (three nats-servers). The account has no default endpoint:
only the job's own endpoint (given in the request, or in the X-TXMAIL-NOTIFICATION-URL field of
an SMTP message) says where its notifications go.

For a job accepted over the REST API and one over SMTP submission: a (whose delivery is paused,
so that the job waits for another node) is killed (-9) as soon as it answered 202 or 250. An
acceptance is answered only once the region stored the job's events, so b's log must show a's
STARTED events while a is down (a build that answered once the events were on a's disk only lost
them with a until its restart). b takes a's spool over and delivers the job (b knows the
endpoint from the job's record in the region's spool), and every event of the job, STARTED
included, reaches the job's endpoint while a is still down; the DELIVERED one from b's address.
Then a restarts for the next scenario.

Then what comes back: a DSN for the REST job (a hard bounce, Postfix's layout) reaches a's
inbound listener, and a is killed as soon as it answered 250. The reply waits until the region
stored the BOUNCED event, so b shows it while a is down, the BOUNCED notification reaches the
job's endpoint from b, and b knows the address is suppressed (a build that answered before the
event left a's disk failed here: the event waited for a's restart)."""
import smtplib

from txmail_harness import *
from webhook_receiver import WebhookReceiver

SOURCE = {"a": "127.0.0.2", "b": "127.0.0.3"}
BOUNCES = "bounces.txmail.test"
HERE = os.path.dirname(os.path.abspath(__file__))


def run(*args):
    return subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=60)


def node_config(region, site, key):
    return (f'[cluster]\nnats = ["{region.url(site)}"]\nmaster_key_file = "{key}"\n'
            f'quorum_grace = "12s"\ntimeout = "2s"\nsites = ["a", "b"]\n'
            f'[notifications]\nallow_private_targets = true\nsource_address = "{SOURCE[site]}"\n'
            f'retry_schedule = ["1s", "1s", "1s"]\n[bounces]\ndomain = "{BOUNCES}"\n'
            '[[smtp.listener]]\naddress = "127.0.0.1:0"\nmode = "inbound"\n')


def rest_job(url):
    body = {"subject": {"content": "taken over"}, "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "shop@sender.test"}}, "notification": {"endPoint": {"url": url}},
            "recipients": [{"mail": {"to": [{"email": "buyer@dest.test"}]}}]}

    def submit(a):
        r = http(a, "POST", "/v2/jobs", body, user="alice")
        check(r.status == 202, f"the job at a: {r}")
        return r.json["jobId"]
    return submit


def smtp_job(url):
    message = ("From: shop@sender.test\r\nTo: buyer@dest.test\r\nSubject: taken over\r\n"
               f"X-TXMAIL-NOTIFICATION-URL: {url}\r\n\r\nx\r\n")

    def submit(a):
        code, text, job = submit_as(a, "alice", "shop@sender.test", ["buyer@dest.test"], message)
        check(code == 250 and job, f"the message at a: {code} {text}")
        return job
    return submit


def job_events(tx, job):
    """The job's events in tx's log (the region's, as far as tx copied them)."""
    out = run("events", "--job", job, "--config", tx.config)
    check(out.returncode == 0, f"events {job}: {out}")
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def received(receiver, path):
    """tag -> the addresses it came from (answered 200)."""
    out = {}
    for r in receiver.got(path):
        if r["status"] == 200 and r["body"]:
            for n in r["body"]["notifications"]:
                out.setdefault(n["meta"]["tag"], []).append(r["client"])
    return out


def taken_over(a, b, receiver, kind, submit):
    """One job accepted at a, a killed at once; b shows its STARTED events, delivers it, and
    every event of the job reaches the job's endpoint, a down all along."""
    path = f"/{kind}"
    job = submit(a)
    a.kill9()
    wait_for(f"a's STARTED event of {kind} job {job} at b, a down", lambda: any(
        e["type"] == "STARTED" for e in job_events(b, job)), timeout=10)
    wait_for(f"{kind} job {job} delivered by b", lambda: any(
        e["type"] == "DELIVERED" for e in job_events(b, job)), timeout=90)
    seen = job_events(b, job)
    delivered = next(e["tag"] for e in seen if e["type"] == "DELIVERED")
    every = {e["tag"] for e in seen}
    wait_for(f"every event of {job} at the receiver, a down",
             lambda: every <= set(received(receiver, path)), timeout=90)
    got = received(receiver, path)
    check(SOURCE["b"] in got[delivered], f"the DELIVERED notification came from {got[delivered]}")
    check(a.proc is None, "a is down all along (the test did not start it again)")
    sources = sorted({c for tag in every for c in got[tag]})
    print(f"{kind}: job {job} accepted at a, a killed at once: b had its STARTED events, "
          f"delivered it, and all {len(every)} events of the job were received from {sources}, "
          "a down")
    a.start()
    wait_for("a ready again", lambda: http(a, "GET", "/readyz").status == 200, timeout=90)
    return job


def bounced_at_a(a, b, receiver, job, return_path):
    """A DSN for the job's recipient at a's inbound listener, a killed at its 250: b shows the
    BOUNCED event and notifies it, and the address is suppressed at b, a down."""
    with open(os.path.join(HERE, "..", "reports", "postfix-dsn.eml")) as f:
        dsn = f.read().replace("nobody@dest.test", "buyer@dest.test").replace("\r\n", "\n").replace("\n", "\r\n")
    s = smtplib.SMTP("127.0.0.1", a.ports["inbound"], timeout=10)
    s.ehlo("mx.dest.test")
    s.mail("<>")
    code, text = s.rcpt(return_path)
    check(code == 250, f"RCPT {return_path} at a: {code} {text}")
    code, text = s.data(dsn.encode())
    a.kill9()
    s.close()
    check(code == 250, f"the DSN at a: {code} {text}")
    wait_for(f"the BOUNCED event of job {job} at b, a down", lambda: any(
        e["type"] == "BOUNCED" for e in job_events(b, job)), timeout=10)
    bounced = next(e["tag"] for e in job_events(b, job) if e["type"] == "BOUNCED")
    wait_for("the BOUNCED notification at the receiver, a down",
             lambda: bounced in received(receiver, "/rest"), timeout=90)
    got = received(receiver, "/rest")[bounced]
    check(SOURCE["b"] in got, f"the BOUNCED notification came from {got}")
    check(http(b, "GET", "/v2/suppressions/buyer@dest.test", user="alice").status == 200,
          "the bounced address is not suppressed at b")
    check(a.proc is None, "a is down all along (the test did not start it again)")
    print(f"bounce: a DSN for job {job} answered 250 at a, a killed at once: b had the BOUNCED "
          f"event, notified it from {sorted(set(got))} and suppresses the address, a down")


receiver = WebhookReceiver()
sink = Sink("127.0.0.53", free_port())
try:
    with NatsRegion() as region:
        key = os.path.join(region.dir, "cluster.key")
        check(run("cluster", "keygen", key).returncode == 0, "keygen")
        delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.53:{sink.port}"\n'
        # a never delivers (its delivery is paused): a job it accepted is delivered by b, after
        # the takeover.
        a = Txmail(name="node-a", node_settings='site = "a"\nregion = "r1"', extra=node_config(region, "a", key),
                   delivery="paused = true\n" + delivery, tls_files=True)
        b = Txmail(name="node-b", node_settings='site = "b"\nregion = "r1"', extra=node_config(region, "b", key),
                   delivery=delivery, tls_files=True)
        init = run("cluster", "init", "--config", a.config)
        check(init.returncode == 0, f"init: {init}")
        with a, b:
            endpoint = http(a, "GET", "/v2/webhooks/endpoint", user="alice")
            check(endpoint.status == 404, f"the account has a default endpoint: {endpoint}")
            jobs = [taken_over(a, b, receiver, kind, submit)
                    for kind, submit in (("rest", rest_job(receiver.url("/rest"))),
                                         ("smtp", smtp_job(receiver.url("/smtp"))))]
            return_path = sink.messages()[0]["mail_from"]
            check(return_path.endswith("@" + BOUNCES), f"the return path {return_path}")
            bounced_at_a(a, b, receiver, jobs[0], return_path)
finally:
    receiver.stop()
    sink.stop()
print("ok")
