"""Many destinations, few connection slots (issue deliver-2): 5,000 messages to 5,000 distinct
domains (each its own MX host, so its own destination site) through an egress source allowed
50 connections. Before the fix, delivery stopped for good after the first 50: a freed slot was
never handed to a destination waiting for one.

Then the same with 10% of the domains' MX hosts accepting TCP and never greeting and 10%
refusing connections: every other message is delivered, the hanging and refused ones are
deferred with the reason in their event, and none is lost (every recipient's status is
accounted for by the status API)."""
import time
from txmail_harness import *

N = 5000
PORT = free_port()
OK_IP, HANG_IP, REFUSE_IP = "127.0.0.1", "127.0.0.73", "127.0.0.74"


def job(recipients):
    return {"subject": {"content": "many"}, "body": {"contentType": "text/plain", "content": "hello"},
            "mail": {"from": {"email": "Sender <s@sender.test>"}},
            "recipients": [{"mail": {"to": [{"email": r}]}} for r in recipients]}


def send_all(tx, recipients):
    jobs = []
    for i in range(0, len(recipients), 1000):
        r = http(tx, "POST", "/v2/jobs", job(recipients[i:i + 1000]), user="alice")
        check(r.status == 202, f"job refused: {r}")
        jobs.append(r.json["jobId"])
    return jobs


def statuses(tx, jobs):
    out = {}
    for j in jobs:
        r = http(tx, "GET", f"/v2/jobs/{j}", user="alice")
        check(r.status == 200, f"status of {j}: {r}")
        for rc in r.json["recipients"]:
            out[rc["email"]] = rc
    return out


ZONE = """$ORIGIN test.
$TTL 300
@ IN SOA ns.test. admin.test. 1 3600 600 86400 300
"""
DELIVERY = (f'mx_port = {PORT}\nmax_connections_per_source = 50\nconnect_timeout = "3s"\n'
            'command_timeout = "3s"\n')
HTTP = "max_body = 10000000"
EXTRA = "[api]\nmax_job_size = 100000000\n"

sink = Sink(OK_IP, PORT)
silent = SilentServer(HANG_IP, PORT)
try:
    with DnsServer(ZONE, synth={"ok.test": OK_IP, "hang.test": HANG_IP, "refuse.test": REFUSE_IP},
                   log_queries=False) as dns:
        # 1. Every destination healthy.
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n{EXTRA}', delivery=DELIVERY,
                    http_settings=HTTP) as tx:
            start = time.time()
            jobs = send_all(tx, [f"user@d{i}.ok.test" for i in range(N)])
            wait_for(f"{N} messages at the MX", lambda: sink.count() >= N, timeout=240)
            took = time.time() - start
            stats = sink.stats()
            check(stats["max_connections"] <= 50, f"the MX saw {stats['max_connections']} connections at once")
            got = statuses(tx, jobs)
            check(len(got) == N and all(r["status"] == "DELIVERED" for r in got.values()),
                  f"not all DELIVERED: {[r for r in got.values() if r['status'] != 'DELIVERED'][:3]}")
            print(f"{N} domains, 50 slots: delivered in {took:.1f}s ({N / took:.0f}/s), "
                  f"at most {stats['max_connections']} connections")
        delivered_before = sink.count()

        # 2. 10% hanging after connect, 10% refusing, 80% healthy.
        with Txmail(extra=f'[dns]\nservers = ["{dns.address}"]\n{EXTRA}', delivery=DELIVERY,
                    http_settings=HTTP) as tx:
            kinds = ["hang" if i % 10 == 3 else "refuse" if i % 10 == 7 else "ok" for i in range(N)]
            recipients = [f"user@e{i}.{k}.test" for i, k in enumerate(kinds)]
            start = time.time()
            jobs = send_all(tx, recipients)
            healthy = kinds.count("ok")
            wait_for(f"{healthy} healthy messages at the MX",
                     lambda: sink.count() - delivered_before >= healthy, timeout=240)
            took = time.time() - start

            def settled():
                got = statuses(tx, jobs)
                return got if all(r["status"] != "ACCEPTED" for r in got.values()) else None

            got = wait_for("every recipient attempted", settled, timeout=120)
            check(len(got) == N, f"{len(got)} recipients in the status API, want {N}")
            by_kind = {}
            for rcpt, kind in zip(recipients, kinds):
                by_kind.setdefault(kind, []).append(got[rcpt])
            check(all(r["status"] == "DELIVERED" for r in by_kind["ok"]),
                  f"healthy not delivered: {[r for r in by_kind['ok'] if r['status'] != 'DELIVERED'][:3]}")
            for kind in ("hang", "refuse"):
                bad = [r for r in by_kind[kind] if r["status"] != "DEFERRED"]
                check(not bad, f"{kind}: not DEFERRED: {bad[:3]}")
            hang_detail = by_kind["hang"][0].get("description", "")
            refuse_detail = by_kind["refuse"][0].get("description", "")
            check("tim" in hang_detail.lower(), f"a hanging MX's deferral does not say it timed out: {hang_detail}")
            check("refused" in refuse_detail.lower(), f"a refusing MX's deferral does not say refused: {refuse_detail}")
            check(silent.accepted >= 1, "the hanging MX saw no connection")
            print(f"{healthy} healthy of {N} delivered in {took:.1f}s beside {kinds.count('hang')} hanging and "
                  f"{kinds.count('refuse')} refusing destinations; deferred: {hang_detail!r} / {refuse_detail!r}")
finally:
    sink.stop()
    silent.stop()
print("ok")
