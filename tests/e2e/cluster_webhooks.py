"""Push notifications through the region's shared queue (issue site-3, item 2): two nodes, site a
(notifications from 127.0.0.2) and site b (from 127.0.0.3), of a region on loopback (three
nats-servers); one receiver; jobs submitted at both sites all the time.

1. kill -9 of the node sending a batch: new jobs go to b only, and once b knows a's last job,
   the receiver holds its requests; once one from a is held (a sends what the region's queue
   hands it), a is killed. Every event of every job reaches the receiver at least once; the batch a
   held was sent again from b's address (the region's queue gave it to b once a stopped
   acknowledging it); duplicates are counted and printed. Right before the kill, one more job
   goes to a, and a is killed once b knows it delivered: a published its events, but its
   reader, which looks at its log every 20 s when idle (`read_interval`), did not make them into
   batches. With a still down, that job's events reach the receiver from b (b took a's spool
   over, and with it a's reader), and so does every event the region holds of these jobs (b's
   log: b's own and a's). a then restarts: events a had recorded and not yet published go out
   then (their count is printed; 0 so far).
2. The receiver is down for two minutes while site a (its node and its nats-server) is killed:
   the batches are tried, run out of tries and become dead letters (at a and at b: one
   region-wide list, the same at both sites); with a gone and the receiver up, b replays them
   and the receiver gets every event of those jobs, from b's address."""
import threading
from txmail_harness import *
from webhook_receiver import WebhookReceiver

SOURCE = {"a": "127.0.0.2", "b": "127.0.0.3"}


def run(*args):
    return subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=60)


def node_config(region, site, key):
    # a's reader, once idle, looks at its log every 20 s: a dies with events it published to
    # the region but did not make into batches (kill_while_sending).
    return (f'[cluster]\nnats = ["{region.url(site)}"]\nmaster_key_file = "{key}"\n'
            f'quorum_grace = "12s"\ntimeout = "2s"\nsites = ["a", "b"]\n'
            f'[notifications]\nallow_private_targets = true\nsource_address = "{SOURCE[site]}"\n'
            'retry_schedule = ["1s", "1s", "1s"]\n' + ('read_interval = "20s"\n' if site == "a" else ""))


def job(subject, url):
    return {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "x"},
            "mail": {"from": {"email": "shop@sender.test"}}, "notification": {"endPoint": {"url": url}},
            "recipients": [{"mail": {"to": [{"email": "buyer@dest.test"}]}}]}


class Flow:
    """Jobs submitted alternately at a and b (at the sites still up) until stopped."""

    def __init__(self, sites, url):
        self.sites, self.url, self.jobs, self.running = sites, url, [], True
        self.last = {}  # site -> the last job it accepted
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        i = 0
        while self.running:
            site = self.sites[i % len(self.sites)]
            i += 1
            try:
                r = http(site, "POST", "/v2/jobs", job(f"flow {i}", self.url), user="alice")
                if r.status == 202:
                    self.jobs.append(r.json["jobId"])
                    self.last[site] = r.json["jobId"]
            except OSError:
                pass  # a site killed meanwhile

    def stop(self):
        self.running = False
        self.thread.join(30)
        return list(self.jobs)


def tags_of(tx, job_ids):
    """Every event of the jobs, from tx's log (the region's events)."""
    out = set()
    for j in job_ids:
        ev = run("events", "--job", j, "--config", tx.config)
        check(ev.returncode == 0, f"events {j}: {ev}")
        out |= {json.loads(line)["tag"] for line in ev.stdout.splitlines() if line.strip()}
    return out


def received(receiver, path):
    """tag -> the sources it came from (answered 200; a request held while its sender was
    killed never had its answer)."""
    out = {}
    for r in receiver.got(path):
        if r["status"] == 200 and not (r["held"] and r["client"] == SOURCE["a"]) and r["body"]:
            for n in r["body"]["notifications"]:
                out.setdefault(n["meta"]["tag"], []).append(r["client"])
    return out


def final(tx, job_ids):
    return all(http(tx, "GET", f"/v2/jobs/{j}", user="alice").json.get("finished") for j in job_ids)


def kill_while_sending(region, a, b, receiver):
    path = "/kill"
    gate = threading.Event()
    flow = Flow([a, b], receiver.url(path))
    wait_for("notifications flowing from both sites", lambda: {SOURCE["a"], SOURCE["b"]} <= {
        r["client"] for r in receiver.got(path)}, timeout=60)
    # New jobs go to b only from here on, and a is killed once b has a's last job: a job a had
    # just accepted when it died, not yet copied to the region's events with its data, would
    # be notified only after a's restart (docs/cluster.md, "Not yet"). a goes on sending the
    # batches the region's queue hands it (b's).
    flow.sites = [b]
    switched = len(flow.jobs)
    wait_for("two jobs at b after the switch", lambda: len(flow.jobs) >= switched + 2)  # none in flight at a
    last_at_a = flow.last[a]
    wait_for("a's last job known at b", lambda: http(b, "GET", f"/v2/jobs/{last_at_a}", user="alice").status == 200)
    receiver.hold[path] = gate
    held = wait_for("a request from a held by the receiver", lambda: [
        r for r in receiver.got(path) if r["held"] and r["client"] == SOURCE["a"]], timeout=60)
    r = http(a, "POST", "/v2/jobs", job("the last at a", receiver.url(path)), user="alice")
    check(r.status == 202, f"the last job at a: {r}")
    last = r.json["jobId"]
    wait_for("the last job at a delivered, as b knows it", lambda: http(
        b, "GET", f"/v2/jobs/{last}", user="alice").json.get("finished"), timeout=30)
    a.kill9()
    gate.set()
    del receiver.hold[path]
    held_tags = {n["meta"]["tag"] for r in held for n in r["body"]["notifications"]}
    wait_for("jobs accepted at b after the kill", lambda: len(flow.jobs) > 20 + len(held))
    jobs = flow.stop() + [last]
    wait_for("the held batch sent again, from b", lambda: all(
        SOURCE["b"] in received(receiver, path).get(t, []) for t in held_tags), timeout=90)
    last_tags = tags_of(b, [last])
    wait_for("the events of a's last job sent from b, a still down", lambda: all(
        SOURCE["b"] in received(receiver, path).get(t, []) for t in last_tags), timeout=90)
    # Each job delivered (its DELIVERED event in the log of one of `nodes`), and every event
    # they hold of these jobs at the receiver.
    def all_received(nodes):
        known = {}
        for tx in nodes:
            for j in jobs:
                for line in run("events", "--job", j, "--config", tx.config).stdout.splitlines():
                    e = json.loads(line)
                    known.setdefault(j, {})[e["tag"]] = e["type"]
        return (all("DELIVERED" in known.get(j, {}).values() for j in jobs)
                and set().union(*known.values()) <= set(received(receiver, path))
                and set().union(*known.values()))
    in_region = wait_for("every event of b's log at the receiver, a still down", lambda: all_received([b]),
                         timeout=120)
    taken = [line for line in b.log_text().splitlines() if "node node-a is dead: this node queued" in line]
    taken_events = sum(int(m.group(1)) for line in taken for m in [re.search(r"queued (\d+) notifications", line)] if m)
    before_restart = set(received(receiver, path))
    a.start()
    wait_for("a ready again", lambda: http(a, "GET", "/readyz").status == 200, timeout=90)
    try:
        every = wait_for("every job delivered and every event of it at the receiver", lambda: all_received([a, b]),
                         timeout=120)
    finally:
        for tx in (a, b):
            for j in jobs:
                for line in run("events", "--job", j, "--config", tx.config).stdout.splitlines():
                    if json.loads(line)["tag"] not in received(receiver, path):
                        print("missing", tx.name, line[:250], file=sys.stderr)
    got = received(receiver, path)
    dups = sum(len(v) - 1 for t, v in got.items() if t in every)
    late = len(every - before_restart)
    print(f"kill -9 while sending: {len(jobs)} jobs, {len(every)} events, all received; the held batch "
          f"({len(held_tags)} events) sent again from b; {dups} duplicates; with a down, all {len(in_region)} "
          f"events of b's log received, among them the {len(last_tags)} of a's last job: b queued {taken_events} notifications of a's events after taking it over; "
          f"{late} events went out after a's restart (a had recorded them, and not published them)")


def receiver_down(region, a, b, receiver):
    path = "/down"
    receiver.stop()
    down_at = time.monotonic()
    flow = Flow([a, b], receiver.url(path))
    wait_for("jobs at both sites", lambda: len(flow.jobs) >= 20)
    jobs = flow.stop()
    wait_for("every job final", lambda: final(a, jobs), timeout=120)
    every = tags_of(a, jobs)

    def dead(tx):
        r = http(tx, "GET", "/v2/webhooks/dead-letters?limit=1000", user="alice")
        check(r.status == 200, f"dead letters: {r}")
        return r.json["deadLetters"]

    def all_dead():
        m = http(b, "GET", "/metrics").body
        backlog = sum(int(re.search(name + r" (\d+)", m).group(1))
                      for name in ("txmail_webhook_retry_backlog", "txmail_webhook_lag_events"))
        return backlog == 0 and sum(d["notifications"] for d in dead(b)) >= len(every) and dead(b)
    letters = wait_for("every batch a dead letter", all_dead, timeout=90)
    check(sorted(d["id"] for d in dead(a)) == sorted(d["id"] for d in letters), "a and b list different dead letters")
    print(f"receiver down: {len(jobs)} jobs, {len(letters)} dead letters, listed alike at a and b")
    a.kill9()
    region.kill("a")
    wait_for("the receiver down for two minutes", lambda: time.monotonic() - down_at >= 120, timeout=150)
    receiver.start()
    r = wait_for("b's replay", lambda: (lambda x: x.status == 200 and x)(
        http(b, "POST", "/v2/webhooks/dead-letters/replay", user="alice")), timeout=60)
    check(r.json["replayed"] == len(letters), f"replayed {r.json}, {len(letters)} dead letters")
    wait_for("every event at the receiver", lambda: every <= set(received(receiver, path)), timeout=120)
    got = received(receiver, path)
    check(all(set(got[t]) == {SOURCE["b"]} for t in every), "a replayed batch came from elsewhere than b")
    check(dead(b) == [], f"dead letters left after the replay: {dead(b)}")
    print(f"receiver up after {time.monotonic() - down_at:.0f} s with site a gone: b replayed "
          f"{r.json['replayed']} dead letters, every one of {len(every)} events received from b")


import re
receiver = WebhookReceiver()
sink = Sink("127.0.0.52", free_port())
try:
    with NatsRegion() as region:
        key = os.path.join(region.dir, "cluster.key")
        check(run("cluster", "keygen", key).returncode == 0, "keygen")
        delivery = f'idle_connection = "200ms"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.52:{sink.port}"\n'
        a = Txmail(name="node-a", node_settings='site = "a"\nregion = "r1"', extra=node_config(region, "a", key),
                   delivery=delivery, tls_files=True)
        b = Txmail(name="node-b", node_settings='site = "b"\nregion = "r1"', extra=node_config(region, "b", key),
                   delivery=delivery, tls_files=True)
        init = run("cluster", "init", "--config", a.config)
        check(init.returncode == 0 and "TXMAIL_HOOKS " in init.stdout and "TXMAIL_HOOKS_DEAD" in init.stdout
              and "txmail_hooks" in init.stdout, f"init: {init}")
        with a, b:
            kill_while_sending(region, a, b, receiver)
            receiver_down(region, a, b, receiver)
finally:
    receiver.stop()
    sink.stop()
print("ok")
