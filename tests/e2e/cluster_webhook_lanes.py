"""Push notification lanes in cluster mode (issue site-3, item 2): two nodes of a region on
loopback (three nats-servers), one receiver, one request at a time per endpoint
(`per_endpoint_connections = 1`), retry schedule ["200ms", "200ms", "200ms"].

1. Tries are tries: an endpoint that answers 500 gets every batch four times (the first try and
   three retries) before it becomes a dead letter, although its breaker paused it again and
   again meanwhile (a paused lane hands its batches back to the region: that counts no try).
2. A slow endpoint does not hold up the others: a backlog of batches for an endpoint that takes
   2 s per request, more than both nodes may hold, then a few jobs for another endpoint: their
   events all arrive while the slow endpoint still has most of its backlog to go (each node's
   lane holds a quarter of the node's room at most; what the region hands over beyond it goes
   back, to come again later). Then the slow endpoint speeds up: every event of its jobs
   arrives (duplicates printed)."""
import collections
import threading

from txmail_harness import *
from webhook_receiver import WebhookReceiver

TRIES = 4  # the first and the three of the schedule


def run(*args):
    return subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=60)


def node_config(region, site, key):
    return (f'[cluster]\nnats = ["{region.url(site)}"]\nmaster_key_file = "{key}"\n'
            f'quorum_grace = "12s"\ntimeout = "2s"\nsites = ["a", "b"]\n'
            '[notifications]\nallow_private_targets = true\nper_endpoint_connections = 1\n'
            'retry_schedule = ["200ms", "200ms", "200ms"]\n')


def job(subject, url):
    return {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "shop@sender.test"}}, "notification": {"endPoint": {"url": url}},
            "recipients": [{"mail": {"to": [{"email": "buyer@dest.test"}]}}]}


def submit(nodes, url, count, threads=4):
    """`count` jobs to `url`, alternately at the nodes; their ids."""
    ids, lock = [], threading.Lock()

    def worker(k):
        for i in range(k, count, threads):
            r = http(nodes[i % len(nodes)], "POST", "/v2/jobs", job(f"job {i}", url), user="alice")
            check(r.status == 202, f"job {i}: {r}")
            with lock:
                ids.append(r.json["jobId"])
    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    check(len(ids) == count, f"{len(ids)} of {count} jobs accepted")
    return ids


def tags_of(tx, job_ids):
    """Every event of the jobs (all to one recipient), from tx's log (the region's events)."""
    ev = run("events", "--recipient", "buyer@dest.test", "--config", tx.config)
    check(ev.returncode == 0, f"events: {ev}")
    jobs, out = set(job_ids), set()
    seen = set()
    for line in ev.stdout.splitlines():
        e = json.loads(line)
        if e["jobId"] in jobs:
            out.add(e["tag"])
            seen.add(e["jobId"])
    check(seen == jobs, f"{len(jobs - seen)} jobs without events in {tx.name}'s log")
    return out


def received(receiver, path):
    """tag -> how often it arrived (answered 200)."""
    out = collections.Counter()
    for r in receiver.got(path):
        if r["status"] == 200 and r["body"]:
            out.update(n["meta"]["tag"] for n in r["body"]["notifications"])
    return out


def final(tx, job_ids):
    return all(http(tx, "GET", f"/v2/jobs/{j}", user="alice").json.get("finished") for j in job_ids)


def dead_letters(tx):
    r = http(tx, "GET", "/v2/webhooks/dead-letters?limit=1000", user="alice")
    check(r.status == 200, f"dead letters: {r}")
    return r.json["deadLetters"]


def tries_are_tries(a, b, receiver):
    path = "/fail"
    receiver.status[path] = 500
    # Enough at once that a lane fails 5 times in a row and its breaker pauses it (a lane with
    # nothing left is dropped, and its count of failures with it).
    jobs = submit([a, b], receiver.url(path), 30)
    wait_for("every job final", lambda: final(a, jobs), timeout=120)
    every = tags_of(a, jobs)
    letters = wait_for("every batch a dead letter", lambda: (lambda d: sum(
        x["notifications"] for x in d) >= len(every) and d)(dead_letters(b)), timeout=300)
    # A batch is the same notifications each time it is sent: requests grouped by their tags.
    sent = collections.Counter(tuple(sorted(n["meta"]["tag"] for n in r["body"]["notifications"]))
                               for r in receiver.got(path) if r["body"])
    trips = sum(int(x) for x in re.findall(r"txmail_webhook_breaker_trips_total (\d+)",
                                           http(a, "GET", "/metrics").body + http(b, "GET", "/metrics").body))
    print(f"tries: {len(jobs)} jobs, {len(letters)} dead letters, {len(sent)} batches sent "
          f"{sorted(collections.Counter(sent.values()).items())} (times sent: batches), "
          f"{trips} breaker trips")
    check(trips > 0, "the breaker never paused the endpoint: the hand-backs were not tested")
    check(len(sent) == len(letters), f"{len(sent)} batches sent, {len(letters)} dead letters")
    check(all(d["attempts"] == TRIES for d in letters), f"attempts: {[d['attempts'] for d in letters]}")
    short = [k for k, n in sent.items() if n < TRIES]
    check(not short, f"{len(short)} batches became dead letters after fewer than {TRIES} tries")
    r = http(b, "POST", "/v2/webhooks/dead-letters/replay", user="alice")  # out of the next phase's way
    check(r.status == 200, f"replay: {r}")
    receiver.status[path] = 200
    wait_for("the replayed batches received", lambda: every <= set(received(receiver, path)), timeout=120)


def slow_endpoint(a, b, receiver):
    slow, fast = "/slow", "/fast"
    receiver.delay[slow] = 2.0
    # Both nodes hold 1024 batches at most: more than 2 x 1024 would fill them with the slow one's.
    slow_jobs = submit([a, b], receiver.url(slow), 2400)
    wait_for("every slow job final", lambda: final(a, slow_jobs[-50:]), timeout=120)
    wait_for("the slow endpoint busy at both nodes", lambda: len(
        {r["client"] for r in receiver.got(slow)}) >= 1 and len(receiver.got(slow)) >= 2, timeout=60)
    started = time.monotonic()
    fast_jobs = submit([a, b], receiver.url(fast), 6, threads=2)
    wait_for("the fast jobs final", lambda: final(a, fast_jobs), timeout=60)
    fast_tags = tags_of(a, fast_jobs)
    wait_for("every event of the fast jobs at the receiver",
             lambda: fast_tags <= set(received(receiver, fast)), timeout=60)
    took = time.monotonic() - started
    slow_tags = tags_of(a, slow_jobs)
    slow_got = len(set(received(receiver, slow)) & slow_tags)
    print(f"slow endpoint (2 s a request, 1 at a time per node), {len(slow_jobs)} jobs, {len(slow_tags)} "
          f"events: the fast endpoint's {len(fast_tags)} events all arrived {took:.1f} s after its jobs "
          f"were submitted, when {slow_got} of the slow endpoint's had")
    check(slow_got < len(slow_tags) // 2, "the slow endpoint's backlog was not large enough to test isolation")
    receiver.delay[slow] = 0
    wait_for("every event of the slow jobs at the receiver",
             lambda: slow_tags <= set(received(receiver, slow)), timeout=400)
    got = received(receiver, slow)
    dups = sum(n - 1 for t, n in got.items() if t in slow_tags)
    print(f"slow endpoint sped up: every one of {len(slow_tags)} events received, {dups} duplicates, "
          f"{time.monotonic() - started:.0f} s after the fast jobs were submitted")


import re
receiver = WebhookReceiver()
sink = Sink("127.0.0.53", free_port())
try:
    with NatsRegion() as region:
        key = os.path.join(region.dir, "cluster.key")
        check(run("cluster", "keygen", key).returncode == 0, "keygen")
        delivery = f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.53:{sink.port}"\n'
        a = Txmail(name="node-a", node_settings='site = "a"\nregion = "r1"', extra=node_config(region, "a", key),
                   delivery=delivery)
        b = Txmail(name="node-b", node_settings='site = "b"\nregion = "r1"', extra=node_config(region, "b", key),
                   delivery=delivery)
        init = run("cluster", "init", "--config", a.config)
        check(init.returncode == 0, f"init: {init}")
        with a, b:
            tries_are_tries(a, b, receiver)
            slow_endpoint(a, b, receiver)
finally:
    receiver.stop()
    sink.stop()
print("ok")
