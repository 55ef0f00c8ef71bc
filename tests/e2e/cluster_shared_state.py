"""State the sites of a region share (issue site-3, items 3 and 4): two nodes, site a and site b,
of a region on loopback (three nats-servers), the same accounts, one sink as every MX.

- Idempotency keys: the same Idempotency-Key and body sent to a and then to b give one job: b
  answers 202 with a's jobId (Idempotency-Replayed: true) and the sink receives the message once.
  The same key with another body at b is refused (422); the same key from another account at b
  is that account's own job.
- Suppression list: a hard bounce at a drops the next job to that address at b with
  PREVIOUSLY_BOUNCED; a DELETE at b makes the address deliverable at a again.
- Events (item 1): a job submitted at a: its status read at b equals a's within 1 second of
  each change (the lag measured is printed), and so do the recipient's message status and the
  events `txmail events` shows at each node; b's own log holds a's events copied, marked with
  their origin, and b's webhook dispatcher leaves them to a.
- The hourly limit (item 5): an account whose 5-minute window admits 100 requests sends 150,
  alternately a REST job at a and an SMTP MAIL at b: 100 to 110 are admitted (the overshoot
  docs/cluster.md allows: what one node admits before it sees the other's count), the rest get
  429 / 451 4.7.1. Two nodes limiting alone would admit all 150 (75 each)."""
from txmail_harness import *

ACCOUNTS = (f'[[account]]\nname = "alice"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\nhourly_limit = 0\n\n'
            f'[[account]]\nname = "bob"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\nhourly_limit = 0\n\n'
            # 960 an hour: a 5-minute window admits 960 / 12 * 1.25 = 100.
            f'[[account]]\nname = "carol"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\nhourly_limit = 960\n')
WINDOW_S = 300


def run(*args):
    return subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=60)


def node_config(region, site, key):
    return (f'[cluster]\nnats = ["{region.url(site)}"]\nmaster_key_file = "{key}"\n'
            f'quorum_grace = "12s"\ntimeout = "2s"\nsites = ["a", "b"]\n')


def job(subject, *to):
    return {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "shop@sender.test"}},
            "recipients": [{"mail": {"to": [{"email": t} for t in to]}}]}


def at_sink(sink, subject):
    return [m for m in sink.messages() if f"Subject: {subject}\r\n" in m["data"]]


def hourly_limit_across_sites(a, b):
    # Room for the whole run in one window: the count starts afresh at each window.
    wait_for("a 5-minute window with 60 s left", lambda: WINDOW_S - time.time() % WINDOW_S > 60, timeout=70)
    window = int(time.time() // WINDOW_S)
    d = submission_session(b, user="carol")
    admitted, refused = [], []
    for i in range(150):
        if i % 2 == 0:
            r = http(a, "POST", "/v2/jobs", job(f"limit {i}", "buyer@dest.test"), user="carol")
            check(r.status in (202, 429), f"job {i} at a: {r}")
            if r.status == 429:
                check(int(r.headers.get("retry-after", "0")) > 0, f"429 without Retry-After: {r.headers}")
            (admitted if r.status == 202 else refused).append(("a", i))
        else:
            d.send("MAIL FROM:<shop@sender.test>\r\n")
            code, lines = d.reply()
            check(code in (250, 451), f"MAIL {i} at b: {code} {lines}")
            if code == 451:
                check(lines[-1].startswith("4.7.1 "), f"MAIL {i} at b: {code} {lines}")
                refused.append(("b", i))
            else:
                admitted.append(("b", i))
                d.cmd("RSET", 250)
    d.cmd("QUIT", 221)
    d.close()
    at = {site: sum(1 for s, _ in admitted if s == site) for site in "ab"}
    print(f"hourly limit across sites: {len(admitted)} of 150 admitted (a {at['a']}, b {at['b']}), "
          f"{len(refused)} refused; overshoot {len(admitted) - 100}")
    check(int(time.time() // WINDOW_S) == window, "the run crossed into the next 5-minute window")
    check(100 <= len(admitted) <= 110, f"admitted {len(admitted)}, expected 100 to 110")


def status_follows(a, b):
    """Polls a job's status at a and b; for each answer a gives, how long until b gives it."""
    submitted = http(a, "POST", "/v2/jobs", job("status", "one@dest.test", "two@dest.test"), user="alice")
    check(submitted.status == 202, f"{submitted}")
    job_id = submitted.json["jobId"]
    seen_a, seen_b = {}, {}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for tx, seen in ((a, seen_a), (b, seen_b)):
            r = http(tx, "GET", f"/v2/jobs/{job_id}", user="alice")
            if r.status == 200:
                seen.setdefault(json.dumps(r.json, sort_keys=True), time.monotonic())
        final = [k for k in seen_a if json.loads(k).get("finished")]
        if final and final[0] in seen_b:
            break
    # a's answers in the order a gave them; b may skip one a showed for a few milliseconds (it
    # copies a's events in batches): each of a's answers is matched by b's first answer equal to
    # it or to a later one of a's.
    order = list(seen_a)
    check(order[-1] in seen_b and json.loads(order[-1]).get("finished"), f"final answers differ: a {order[-1]}\nb {list(seen_b)}")
    b_at = sorted((order.index(k), t) for k, t in seen_b.items() if k in seen_a)
    lags = []
    for i, answer in enumerate(order):
        caught_up = min(t for j, t in b_at if j >= i)
        lags.append(max(0.0, caught_up - seen_a[answer]))
    print(f"job status at b vs a: {len(order)} answers at a ({len(seen_b)} at b), lag max "
          f"{max(lags) * 1000:.0f} ms, mean {sum(lags) / len(lags) * 1000:.0f} ms")
    check(max(lags) <= 1.0, f"b's status lagged a's by {max(lags):.3f} s")
    mail_id = json.loads(next(k for k in seen_a if json.loads(k).get("finished")))["recipients"][0]["mailId"]
    ma = http(a, "GET", f"/v2/messages/{mail_id}", user="alice")
    mb = http(b, "GET", f"/v2/messages/{mail_id}", user="alice")
    check(ma.status == 200 and mb.status == 200 and ma.json == mb.json, f"message status: a {ma} b {mb}")
    ea = run("events", "--job", job_id, "--config", a.config)
    eb = run("events", "--job", job_id, "--config", b.config)
    check(ea.returncode == 0 and ea.stdout == eb.stdout and ea.stdout.count('"type":"DELIVERED"') == 2,
          f"txmail events: a {ea} b {eb}")
    # The copy's position and lag, per node, in `txmail cluster status` (from the heartbeats).
    def copied_everywhere():
        st = cli(b, "cluster", "status")
        last = st["events_stream"]["last_revision"]
        nodes = {n["node"]: n for n in st["nodes"]}
        return last > 0 and all(nodes.get(x, {}).get("events_imported_seq") == last and
                                nodes[x].get("events_import_pending") == 0 for x in ("node-a", "node-b")) and st
    st = wait_for("cluster status: both nodes copied the whole events stream", copied_everywhere)
    print(f"cluster status: events stream at seq {st['events_stream']['last_revision']}, both nodes copied it")
    return job_id


def events_survive_restarts(region, a, b, job_id):
    """b's node restarts (its copy goes on from its stored position), then site b's NATS server
    restarts while the stream is idle (b's consumer starts over): b still holds each of a's
    events once, and copies what a records afterwards."""
    events_at = lambda tx, j: run("events", "--job", j, "--config", tx.config).stdout
    before = events_at(b, job_id)
    check(b.stop() == 0, "b did not stop cleanly")
    b.start()
    wait_for("b ready after its restart", lambda: http(b, "GET", "/readyz").status == 200, timeout=60)
    region.kill("b")
    region.start("b")
    wait_for("b ready after its NATS server's restart", lambda: http(b, "GET", "/readyz").status == 200, timeout=90)
    later = http(a, "POST", "/v2/jobs", job("after the restarts", "three@dest.test"), user="alice")
    check(later.status == 202, f"{later}")
    finished(a, later.json["jobId"])
    wait_for("a's later events at b", lambda: events_at(b, later.json["jobId"]) == events_at(a, later.json["jobId"]),
             timeout=60)
    check(events_at(b, job_id) == before, f"b's copy of the first job changed:\n{before}\n{events_at(b, job_id)}")
    print("b restarted, then site b's NATS server: b holds each of a's events once and copies new ones")


def finished(tx, job_id):
    return wait_for(f"job {job_id} final", lambda: (lambda j: j.get("finished") and j)(
        http(tx, "GET", f"/v2/jobs/{job_id}", user="alice").json))


sink = Sink("127.0.0.51", free_port())
try:
    with NatsRegion() as region:
        key = os.path.join(region.dir, "cluster.key")
        check(run("cluster", "keygen", key).returncode == 0, "keygen")
        delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.51:{sink.port}"\n'
        a = Txmail(name="node-a", node_settings='site = "a"\nregion = "r1"', extra=node_config(region, "a", key),
                   accounts=ACCOUNTS, delivery=delivery, tls_files=True)
        b = Txmail(name="node-b", node_settings='site = "b"\nregion = "r1"', extra=node_config(region, "b", key),
                   accounts=ACCOUNTS, delivery=delivery, tls_files=True)
        init = run("cluster", "init", "--config", a.config)
        check(init.returncode == 0 and "txmail_idempotency" in init.stdout and "txmail_rates" in init.stdout,
              f"init: {init}")
        with a, b:
            # --- Idempotency keys, region-wide.
            body = job("once", "buyer@dest.test")
            first = http(a, "POST", "/v2/jobs", body, user="alice", headers={"Idempotency-Key": "order-17"})
            check(first.status == 202, f"a: {first}")
            again = http(b, "POST", "/v2/jobs", body, user="alice", headers={"Idempotency-Key": "order-17"})
            check(again.status == 202 and again.json["jobId"] == first.json["jobId"], f"b: {again} after a: {first}")
            check(again.json == first.json, f"b's answer differs from a's: {again.json} vs {first.json}")
            check(again.headers.get("idempotency-replayed") == "true", f"b: {again.headers}")
            print(f"the same Idempotency-Key at a then at b: one job, {first.json['jobId']}")
            other = http(b, "POST", "/v2/jobs", job("twice", "buyer@dest.test"), user="alice",
                         headers={"Idempotency-Key": "order-17"})
            check(other.status == 422, f"the key with another body at b: {other}")
            bobs = http(b, "POST", "/v2/jobs", body, user="bob", headers={"Idempotency-Key": "order-17"})
            check(bobs.status == 202 and bobs.json["jobId"] != first.json["jobId"], f"bob's own job: {bobs}")
            wait_for("alice's and bob's messages at the sink", lambda: len(at_sink(sink, "once")) == 2)
            finished(a, first.json["jobId"])
            check(len(at_sink(sink, "once")) == 2, f"one message per job: {len(at_sink(sink, 'once'))}")

            # --- The suppression list, region-wide.
            bounced = http(a, "POST", "/v2/jobs", job("bounce", "reject-user@dest.test"), user="alice")
            check(bounced.status == 202, f"{bounced}")
            s = finished(a, bounced.json["jobId"])
            check([x["status"] for x in s["recipients"]] == ["BOUNCED"], f"{s}")
            wait_for("the bounce on the list at b", lambda: http(
                b, "GET", "/v2/suppressions/reject-user@dest.test", user="alice").status == 200)
            dropped = http(b, "POST", "/v2/jobs", job("after the bounce", "reject-user@dest.test"), user="alice")
            check(dropped.status == 202 and [(x["status"], x.get("reason")) for x in dropped.json["recipients"]] ==
                  [("DROPPED", "PREVIOUSLY_BOUNCED")], f"b after a's bounce: {dropped}")
            lifted = http(b, "DELETE", "/v2/suppressions/reject-user@dest.test", user="alice")
            check(lifted.status in (200, 204), f"DELETE at b: {lifted}")
            wait_for("the entry gone at a", lambda: http(
                a, "GET", "/v2/suppressions/reject-user@dest.test", user="alice").status == 404)
            retried = http(a, "POST", "/v2/jobs", job("after the delete", "reject-user@dest.test"), user="alice")
            check(retried.status == 202 and [x["status"] for x in retried.json["recipients"]] == ["ACCEPTED"],
                  f"a after b's DELETE: {retried}")
            print("a hard bounce at a dropped the next job at b; a DELETE at b lifted it at a")

            # --- The hourly limit, counted across the region (before the restarts below: after a
            # NATS server's restart the nodes may not see each other's counts for some seconds,
            # and limit alone meanwhile, as docs/cluster.md says).
            hourly_limit_across_sites(a, b)

            # --- Events and status, region-wide.
            first = status_follows(a, b)
            events_survive_restarts(region, a, b, first)
            check(a.stop() == 0 and b.stop() == 0, "a node did not stop cleanly")
finally:
    sink.stop()
print("ok")
