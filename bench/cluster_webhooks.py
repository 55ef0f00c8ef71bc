"""Cluster push notification benchmark (issue site-3, item 2): events of two nodes pushed to one
receiver through the region's shared queue, run by bench/cluster_webhooks.sh.

Setup, as tests/e2e/cluster_webhooks.py and bench/cluster_events.py: three nats-servers on
loopback (sites a and b, the witness w; tests/lib/txmail_harness.py NatsRegion), `txmail
cluster keygen` and `cluster init` (which must create TXMAIL_HOOKS and the consumer
txmail_hooks), nodes node-a (site a) and node-b (site b), one account, info-level logs.
Each node sends its notifications from its own [notifications] source_address (a: 127.0.0.2,
b: 127.0.0.3; allow_private_targets = true; timeout "5m" for the backlog phase's held requests,
everything else default), so the receiver tells from a request's peer address which site sent
the batch. Every recipient is relayed ([[delivery.route]] domain "*") to one Postfix smtp-sink
(bench/cluster_relay.py SmtpSink), which accepts everything and stores nothing.

The receiver is a separate process (this file run with --receiver, so that its work does not
share a GIL with the load): a threaded HTTP/1.1 server on 127.0.0.1 that answers 200 to every
POST and keeps, per request, the arrival time (time.time(), taken when the body has been read),
the peer address, the path and the raw body; the bodies are parsed only at the end. A path can
be held: its requests are recorded at once and answered only when it is released.

Jobs are REST jobs (POST /v2/jobs, the e2e test's body with "notification": {"endPoint":
{"url": <receiver>/<phase>}}) of --recipients recipients each, from --threads threads (one
keep-alive connection each, half of them at a and half at b). Each recipient makes its events
(STARTED, PROCESSED, DELIVERED: counted from what arrives, not assumed); the defaults (700 x 50
recipients, and the backlog's 2,334 x 15) make about 105,000 per phase (the live phase's followed
jobs add theirs).

1. Warm-up: 2 jobs of 5 recipients at each node, to /warmup; waited for until every event of
   them is at the receiver (a setup that does not notify fails here, exit 1).
2. Live (/live): --jobs jobs as fast as the threads go, the receiver answering at once. Both
   nodes' /metrics are polled every --monitor-interval s (events recorded). Meanwhile
   --trackers threads submit up to --sample more jobs of the same kind (alternately at a and
   b) and follow each at both sites (the status-read lag, below); they start no new one once
   the load's submissions have ended. Here a notification cannot leave before its event is
   recorded, so when the rate notified is close to the rate recorded, the load, not the queue,
   set the pace; the lag says how far behind the notifications were.
3. Backlog (/backlog; skipped with --backlog-jobs 0): the receiver holds every request;
   --backlog-jobs jobs of --backlog-recipients recipients (default: 15 recipients, as many
   jobs as make as many recipients as the live phase); once every job is final, the nodes have
   read their whole logs and the queue (consumer txmail_hooks: batches in the stream not handed
   out, plus handed out and not acknowledged) has stopped growing, the receiver answers
   everything held and from then on answers at once. The rate from the release to the last
   arrival is what the queue and the two senders deliver when the events are already there,
   not paced by the load: the figure to hold against the target of 20,000/s. The jobs name
   --backlog-endpoints endpoints in turn (default 8: /backlog/0 .. /backlog/7, one lane each).
   Each node takes up to max(256, 2 x 512) = 1024 batches from the queue while its 4
   connections per endpoint are held, at most a quarter of them for one endpoint; with one
   endpoint (--backlog-endpoints 1) the rest of its backlog goes back to the region, to come
   again 1 s to a minute later, and the drain shows that wait; the
   backlog's smaller jobs make smaller batches (one per job and read round: about 30 and 15
   notifications), more of them than the two nodes take (over 3,000 at the defaults), so part
   of the backlog still is in the stream at the release and is fetched during the drain. How
   many were where is printed. (With 50 recipients a job, ~1,200 batches of ~100, the nodes
   hold all of them at the release and the drain is the senders alone.)

After each phase: until the receiver has every event (distinct tags >= the events both nodes
recorded during the phase, from txmail_events_total), or nothing new arrived for --quiet s with
both nodes idle (then some are lost: reported). The events each node recorded itself (its
events.db, origin '', read-only as `txmail events` reads it) for the phase's jobs are the
expected set: every one must have arrived.

Reported per phase:
- notifications/s: distinct events received / (last arrival - first arrival), and / (last
  arrival - the start: of the load, or the release); the rate the nodes recorded events at.
- end-to-end lag per event (live only: held requests make the backlog's meaningless): its first
  arrival minus its own time (meta.event.ts, ms resolution, the same clock): p50 / p99 / max.
- batches (POSTs) and notifications sent by each site, the events recorded at one site and
  sent by the other, notifications per batch, duplicates (a tag received more than once), lost
  (recorded, never received), and the nodes' notification failures and dead letters.
- status-read lag across sites (live): for each followed job, one thread polls GET
  /v2/jobs/{id} at the node that took it and one at the other node (--poll-interval s between
  polls), each keeping when it first got each distinct answer; the lag of one of the first
  node's answers is the time until the other gave it or a later one (as
  bench/cluster_events.py measures it; its summary function is reused): p50 / p99 / max, to
  within one poll gap (printed).
- the machine's load (CPU busy, the share this benchmark's processes took): the machine may be
  shared, and figures from a busy machine are noisy.
- node log lines at warning level or above.

Exit status: 0 when every notification arrived; 1 on a setup failure (nodes, region, receiver,
warm-up, a refused job, a wait that timed out), or, after the summary, when a notification was
lost or a node did not stop cleanly.

Environment: TXMAIL_BIN (build/txmail), KEEP=1 keeps the scratch files.
Usage: /usr/bin/python3 bench/cluster_webhooks.py [--jobs N] [--recipients R] [--threads T]
       [--backlog-recipients R] [--backlog-jobs N] [--sample S] [--trackers K] [--poll-interval SEC]
       [--monitor-interval SEC] [--quiet SEC] [--timeout SEC]   (PYTHONPATH=tests/lib)
"""
import argparse
import datetime
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Helpers of the other cluster benchmarks in this directory (importable: their runs are behind
# `if __name__ == "__main__"`).
from cluster_events import (ACCOUNTS, Client, Load, describe_load, follow_job, pct, run,
                            summarize_lags)
from cluster_relay import SmtpSink
from txmail_harness import NatsRegion, Txmail, check, fail, js_api, wait_for
from txmail_harness import http as harness_http

TXMAIL = os.environ.get("TXMAIL_BIN", "build/txmail")
KEEP = os.environ.get("KEEP") == "1"
SITES = ("a", "b")
SOURCE = {"a": "127.0.0.2", "b": "127.0.0.3"}
SITE_OF = {v: k for k, v in SOURCE.items()}
TAG = re.compile(rb'"tag":"([^"]*)"')


# --- the receiver (its own process) -------------------------------------------------------------

def receiver_main(directory):
    """Serves POSTs on 127.0.0.1 (a free port, printed on stdout). GET /stats: per path, the
    requests, notifications (tags, with repeats), distinct tags, the first and last arrival.
    GET /hold/<path>: requests to /<path> wait for GET /release/<path> (which answers the
    release time). GET /dump: writes every request to DIRECTORY/requests.jsonl, answers its name."""
    records = []            # (arrival, peer, path, raw body)
    lock = threading.Lock()
    gates = {}              # path -> threading.Event, set at its release
    counted = {"upto": 0, "paths": {}}

    def stats():
        with lock:
            new = records[counted["upto"]:]
            counted["upto"] = len(records)
        for t, _, path, raw in new:
            p = counted["paths"].setdefault(path, {"requests": 0, "notifications": 0, "tags": set(),
                                                   "first": t, "last": t})
            tags = TAG.findall(raw)
            p["requests"] += 1
            p["notifications"] += len(tags)
            p["tags"].update(tags)
            p["first"], p["last"] = min(p["first"], t), max(p["last"], t)
        return {path: {"requests": p["requests"], "notifications": p["notifications"],
                       "distinct": len(p["tags"]), "first": p["first"], "last": p["last"]}
                for path, p in counted["paths"].items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            now = time.time()
            gate = gates.get(self.path) or gates.get(self.path.rsplit("/", 1)[0])  # /<path>[/<n>]
            with lock:
                records.append((now, self.client_address[0], self.path, raw))
            if gate is not None:
                gate.wait(600)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            if self.path == "/stats":
                body = json.dumps(stats()).encode()
            elif self.path.startswith("/hold/"):
                gates["/" + self.path[len("/hold/"):]] = threading.Event()
                body = b"{}"
            elif self.path.startswith("/release/"):
                t = time.time()
                gates.pop("/" + self.path[len("/release/"):]).set()
                body = json.dumps({"t": t}).encode()
            elif self.path == "/dump":
                out = os.path.join(directory, "requests.jsonl")
                with lock:
                    snapshot = list(records)
                with open(out, "w") as f:
                    for t, peer, path, raw in snapshot:
                        f.write(json.dumps({"t": t, "peer": peer, "path": path,
                                            "body": raw.decode("utf-8", "replace")}) + "\n")
                body = out.encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128

        def handle_error(self, request, client_address):
            pass  # a node that went away mid-request: counted by what did not arrive

    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def on_path(p, path):
    """A request to `path`, or to `path`/<n> (the backlog's endpoints)."""
    return p == path or p.startswith(path + "/")


class Receiver:
    """The receiver process, seen from the benchmark."""

    def __init__(self, directory):
        self.dir = directory
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--receiver", directory],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        check(line.strip().isdigit(), f"the receiver did not start: {line!r}")
        self.port = int(line)
        self.conn = None

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def _get(self, path):
        check(self.proc.poll() is None, f"the receiver exited with {self.proc.returncode}")
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        self.conn.request("GET", path)
        r = self.conn.getresponse()
        body = r.read()
        check(r.status == 200, f"receiver {path}: {r.status}")
        return body

    def stats(self, path):
        """Of the requests to `path` and to `path`/<n> (one endpoint each)."""
        out = {"requests": 0, "notifications": 0, "distinct": 0, "first": None, "last": None}
        for p, x in json.loads(self._get("/stats")).items():
            if on_path(p, path):
                for k in ("requests", "notifications", "distinct"):
                    out[k] += x[k]
                out["first"] = x["first"] if out["first"] is None else min(out["first"], x["first"])
                out["last"] = x["last"] if out["last"] is None else max(out["last"], x["last"])
        return out

    def hold(self, path):
        self._get("/hold" + path)

    def release(self, path):
        """Answers what is held for `path`, and the rest at once; the receiver's time of it."""
        return json.loads(self._get("/release" + path))["t"]

    def requests(self):
        """Every request so far: [{"t", "peer", "path", "body"}] (body parsed)."""
        with open(self._get("/dump").decode()) as f:
            out = []
            for line in f:
                r = json.loads(line)
                r["body"] = json.loads(r["body"])
                out.append(r)
            return out

    def stop(self):
        if self.conn is not None:
            self.conn.close()
        self.proc.terminate()
        self.proc.wait(10)


# --- nodes and load -----------------------------------------------------------------------------

def job_body(subject, recipients, url):
    return {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "Your code is 123456."},
            "mail": {"from": {"email": "shop@sender.test"}}, "notification": {"endPoint": {"url": url}},
            "recipients": [{"mail": {"to": [{"email": f"r{i}@dest.test"} for i in range(recipients)]}}]}


def node_extra(region, site, key):
    return (f'[cluster]\nnats = ["{region.url(site)}"]\nmaster_key_file = "{key}"\n'
            f'quorum_grace = "12s"\ntimeout = "2s"\nsites = ["a", "b"]\n'
            f'[notifications]\nallow_private_targets = true\nsource_address = "{SOURCE[site]}"\n'
            'timeout = "5m"  # the backlog phase holds requests while it builds the backlog\n')


def read_metrics(client):
    """The figures of one node's /metrics this benchmark follows (txmail_events_total summed
    over its labels)."""
    status, body = client.call("GET", "/metrics")
    check(status == 200, f"/metrics: {status}")
    out = {"events": 0.0}
    for line in body.decode().splitlines():
        if line.startswith("txmail_events_total{"):
            out["events"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith(("txmail_webhook_", "txmail_event_log_backlog")):
            name, _, value = line.partition(" ")
            if "{" not in name:
                out[name] = float(value)
    return out


class Monitor:
    """Polls both nodes' /metrics; keeps (monotonic time, wall time, {site: figures})."""

    def __init__(self, nodes, interval):
        self.nodes = nodes
        self.interval = interval
        self.samples = []
        self.errors = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        clients = {site: Client(tx) for site, tx in self.nodes.items()}
        while not self.stopping.is_set():
            t = time.monotonic()
            row = {}
            for site, c in clients.items():
                try:
                    row[site] = read_metrics(c)
                except (OSError, SystemExit, http.client.HTTPException) as e:
                    self.errors.append(f"{site}: {type(e).__name__}: {e}")
                    c.close()
            with self.lock:
                self.samples.append((t, time.time(), row))
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - t)))
        for c in clients.values():
            c.close()

    def latest(self):
        """The newest sample with both nodes in it: {site: figures} (None: none yet)."""
        with self.lock:
            return next((row for _, _, row in reversed(self.samples) if len(row) == len(self.nodes)), None)

    def total(self, row, name):
        return sum(row[s].get(name, 0.0) for s in self.nodes)

    def events_series(self, since):
        """[(wall time, events recorded at both nodes)] from `since` (monotonic) on."""
        with self.lock:
            return [(w, self.total(row, "events")) for t, w, row in self.samples
                    if t >= since and len(row) == len(self.nodes)]

    def stop(self):
        self.stopping.set()
        self.thread.join(10)


def settled(monitor, quiet, timeout):
    """Until the events recorded at both nodes have not moved for `quiet` s; their total."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        row = monitor.latest()
        v = monitor.total(row, "events") if row else None
        if v != last:
            last, since = v, time.monotonic()
        elif v is not None and time.monotonic() - since >= quiet:
            return v
        time.sleep(0.05)
    fail(f"the nodes' event counts did not settle in {timeout} s (monitor errors: {monitor.errors[-3:]})")


def logs_read(row):
    """Both nodes' dispatchers have read every event of their logs (and queued its batches)."""
    return all(m.get("txmail_event_log_backlog", 1) == 0 and m.get("txmail_webhook_lag_events", 1) == 0
               for m in row.values())


def idle(row):
    """Both nodes' logs read, and their outboxes (batches held for a first or a next try,
    txmail_webhook_retry_backlog) empty."""
    return logs_read(row) and all(m.get("txmail_webhook_retry_backlog", 1) == 0 for m in row.values())


def submit_load(nodes, n, recipients, threads, url, prefix):
    """n jobs from `threads` threads, thread i at SITES[i % 2]; returns ([(job id, site)], first
    submission, last answer (monotonic), [answer latency in s])."""
    jobs, latencies, errors, times = [], [], [], []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker(site):
        c = Client(nodes[site])
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            t = time.monotonic()
            try:
                target = url[i % len(url)] if isinstance(url, list) else url
                status, body = c.call("POST", "/v2/jobs", job_body(f"{prefix} {i}", recipients, target))
            except Exception as e:  # noqa: BLE001 -- reported below
                status, body = None, str(e).encode()
            t1 = time.monotonic()
            with lock:
                times.append((t, t1))
                if status == 202:
                    jobs.append((json.loads(body)["jobId"], site))
                    latencies.append(t1 - t)
                else:
                    errors.append((site, status, body[:300]))
        c.close()

    ts = [threading.Thread(target=worker, args=(SITES[i % 2],), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors, f"{len(errors)} of {n} jobs refused, e.g. {errors[:3]}")
    return jobs, min(t for t, _ in times), max(t for _, t in times), latencies


def wait_final(nodes, jobs, timeout):
    """Until GET /v2/jobs/{id} says finished for every job at the node that took it."""
    clients = {site: Client(tx) for site, tx in nodes.items()}
    left = list(jobs)
    deadline = time.monotonic() + timeout
    while left:
        check(time.monotonic() < deadline, f"{len(left)} of {len(jobs)} jobs not final after {timeout} s, "
                                           f"e.g. {left[:3]}")
        still = []
        for job, site in left:
            status, body = clients[site].call("GET", f"/v2/jobs/{job}")
            if status != 200 or not json.loads(body).get("finished"):
                still.append((job, site))
        left = still
        if left:
            time.sleep(0.2)
    for c in clients.values():
        c.close()


def wait_received(receiver, path, want, monitor, quiet, timeout):
    """Until `want` distinct events have arrived at `path`, or nothing new came for `quiet` s
    while both nodes were idle (some are lost: the caller reports them)."""
    deadline = time.monotonic() + timeout
    last_count, last_move = -1, time.monotonic()
    while True:
        got = receiver.stats(path)["distinct"]
        if got >= want:
            return
        if got != last_count:
            last_count, last_move = got, time.monotonic()
        row = monitor.latest()
        if time.monotonic() - last_move >= quiet and row and idle(row):
            print(f"  nothing new for {quiet:.0f} s with both nodes idle: {want - got:.0f} missing", flush=True)
            return
        check(time.monotonic() < deadline, f"{want - got:.0f} of {want:.0f} notifications at {path} not received "
                                           f"after {timeout} s")
        time.sleep(0.1)


# --- status-read lag across sites ------------------------------------------------------------------

def follow(nodes, origin, recipients, url, poll_interval, subject, job_timeout=120):
    """One job submitted at `origin`, followed there and at the other site
    (cluster_events.follow_job: "a" is the origin, "b" the other site)."""
    other = "b" if origin == "a" else "a"
    ca, cb = Client(nodes[origin]), Client(nodes[other])
    try:
        r = follow_job(ca, cb, job_body(subject, recipients, url), poll_interval, job_timeout,
                       f"followed job at {origin}")
        r["site"] = origin
        return r
    finally:
        ca.close()
        cb.close()


def track(nodes, n, trackers, recipients, url, poll_interval, stop):
    """Up to n followed jobs, `trackers` at a time, alternately at a and b, none started once
    `stop` is set; returns their results."""
    counter = iter(range(n))
    lock = threading.Lock()
    results, failures = [], []

    def worker():
        try:
            while not stop.is_set():
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                r = follow(nodes, SITES[i % 2], recipients, url, poll_interval, f"followed {i}")
                with lock:
                    results.append(r)
        except SystemExit as e:   # check() failed in this thread
            failures.append(str(e))

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(trackers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not failures, f"status tracking failed: {failures}")
    return results


# --- analysis ------------------------------------------------------------------------------------

def event_time(ts):
    """meta.event.ts ("2026-12-03T08:19:46.123Z") as a Unix time."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def own_events(tx, job_ids):
    """The tags of the events `tx` recorded itself (origin '') for these jobs, from its
    events.db read-only."""
    conn = sqlite3.connect(f"file:{os.path.join(tx.data_dir, 'events.db')}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT tag, job_id FROM events WHERE origin = ''").fetchall()
    finally:
        conn.close()
    return {tag for tag, job in rows if job in job_ids}


def analyse(requests, path, expected, t_start):
    """The figures of the requests to `path`; expected: {site: {tags recorded there}}; t_start:
    the wall time the phase's rate is counted from."""
    reqs = sorted((r for r in requests if on_path(r["path"], path)), key=lambda r: r["t"])
    first_arrival = {}   # tag -> (arrival, event time, type, sending site)
    copies = {}
    per_site = {s: {"requests": 0, "notifications": 0} for s in SITES}
    other_peers = {}
    sizes = []
    for r in reqs:
        site = SITE_OF.get(r["peer"])
        notes = r["body"]["notifications"]
        sizes.append(len(notes))
        if site is None:
            other_peers[r["peer"]] = other_peers.get(r["peer"], 0) + 1
        else:
            per_site[site]["requests"] += 1
            per_site[site]["notifications"] += len(notes)
        for n in notes:
            tag = n["meta"]["tag"]
            copies[tag] = copies.get(tag, 0) + 1
            if tag not in first_arrival:
                first_arrival[tag] = (r["t"], event_time(n["meta"]["event"]["ts"]), n["meta"]["event"]["type"], site)
    recorded_at = {tag: s for s, tags in expected.items() for tag in tags}
    lags = [(t - ts) * 1000 for t, ts, _, _ in first_arrival.values()]
    kinds = {}
    for _, _, kind, _ in first_arrival.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    crossed = {f"{s}->{o}": sum(1 for tag, (_, _, _, sender) in first_arrival.items()
                                if recorded_at.get(tag) == s and sender == o)
               for s in SITES for o in SITES}
    n = len(first_arrival)
    t_first, t_last = (reqs[0]["t"], reqs[-1]["t"]) if reqs else (float("nan"), float("nan"))
    newest_event = max((ts for _, ts, _, _ in first_arrival.values()), default=float("nan"))
    return {"requests": len(reqs), "notifications": sum(sizes), "distinct": n, "kinds": kinds,
            "duplicates": sum(c - 1 for c in copies.values()),
            "duplicated_tags": sum(1 for c in copies.values() if c > 1),
            "lost": sorted(set(recorded_at) - set(first_arrival)),
            "unexpected": len(set(first_arrival) - set(recorded_at)),
            "t_last": t_last, "span_s": t_last - t_first, "rate_span": n / max(1e-9, t_last - t_first),
            "since_start_s": t_last - t_start, "rate_since_start": n / max(1e-9, t_last - t_start),
            "before_start": sum(1 for r in reqs if r["t"] < t_start),
            "lag_p50_ms": pct(lags, 0.50), "lag_p99_ms": pct(lags, 0.99), "lag_max_ms": max(lags, default=float("nan")),
            "tail_ms": (t_last - newest_event) * 1000,
            "per_site": per_site, "other_peers": other_peers, "crossed": crossed,
            "batch_p50": pct(sizes, 0.5), "batch_max": max(sizes, default=0)}


def recording(monitor, since, base, recorded):
    """When the nodes recorded a phase's events: from the last sample before their count moved
    to the first showing all of them (the monitor's period is the resolution); (wall start,
    wall end) or None."""
    series = monitor.events_series(since)
    moved = next((i for i, (_, v) in enumerate(series) if v > base), None)
    done_at = next((w for w, v in series if v >= base + recorded), None)
    if moved is None or done_at is None:
        return None
    return series[max(0, moved - 1)][0], done_at


def queue_state(region):
    """Batches in TXMAIL_HOOKS not handed out yet, and handed out and not acknowledged."""
    info = js_api(region, "CONSUMER.INFO.TXMAIL_HOOKS.txmail_hooks", {})
    check("error" not in info, f"consumer info: {info}")
    return info.get("num_pending", 0), info.get("num_ack_pending", 0)


def log_problems(tx, limit=5):
    """The node's log lines at warning level or above: (count, the first `limit`)."""
    lines = [l for l in tx.log_text().splitlines() if re.match(r"\S+ (warning|error|critical) ", l)]
    return len(lines), lines[:limit]


# --- the phases ----------------------------------------------------------------------------------

def live_phase(nodes, receiver, monitor, args, pids):
    path = "/live"
    url = receiver.url(path)
    base = settled(monitor, 1.0, 60)
    load = Load(pids)
    t_load, t_load_wall = time.monotonic(), time.time()
    stop_tracking = threading.Event()
    tracked = {}
    tracker_thread = threading.Thread(target=lambda: tracked.setdefault("r", track(
        nodes, args.sample, args.trackers, args.recipients, url, args.poll_interval, stop_tracking)), daemon=True)
    tracker_thread.start()
    jobs, t0, t1, lat = submit_load(nodes, args.jobs, args.recipients, args.threads, url, "live")
    t_submitted = time.monotonic()
    stop_tracking.set()
    print(f"  {len(jobs)} jobs submitted in {t1 - t0:.1f} s ({len(jobs) / (t1 - t0):.0f} jobs/s, answer "
          f"p50 {pct(lat, 0.5) * 1000:.0f} ms, p99 {pct(lat, 0.99) * 1000:.0f} ms)", flush=True)
    tracker_thread.join(args.timeout)
    check("r" in tracked, "the followed jobs did not finish")
    followed = tracked["r"]
    all_jobs = jobs + [(r["job"], r["site"]) for r in followed]
    wait_final(nodes, all_jobs, args.timeout)
    recorded = settled(monitor, 1.5, args.timeout) - base
    t_final = time.monotonic()
    print(f"  every job final {t_final - t_load:.1f} s after the load began; {recorded:.0f} events recorded",
          flush=True)
    rec = recording(monitor, t_load, base, recorded)
    r = received_figures(receiver, path, nodes, monitor, args, load, all_jobs, recorded, rec, t_load_wall)
    if rec:
        r["after_recorded_ms"] = (r["t_last"] - rec[1]) * 1000
    r.update({"jobs": len(jobs), "followed": len(followed),
              "submit_rate": len(jobs) / (t1 - t0), "submit_p50_ms": pct(lat, 0.5) * 1000,
              "submit_p99_ms": pct(lat, 0.99) * 1000, "final_s": t_final - t_load,
              "status_lag": summarize_lags(followed, "followed") if followed else None,
              "followed_under_load": sum(1 for x in followed if x["t"] <= t_submitted)})
    return r


def received_figures(receiver, path, nodes, monitor, args, load, jobs, recorded, rec, t_start):
    """The end of a phase: once the receiver has the `recorded` events (or gave up waiting) and
    both nodes are idle, the figures of the requests to `path` since `t_start` (wall), checked
    against what each node recorded of `jobs` ([(job id, site)]); rec: recording()'s span."""
    wait_received(receiver, path, recorded, monitor, args.quiet, args.timeout)
    load_figures = load.done()
    wait_for("both nodes idle", lambda: (lambda row: row and idle(row))(monitor.latest()), timeout=60)
    job_ids = {j for j, _ in jobs}
    expected = {site: own_events(tx, job_ids) for site, tx in nodes.items()}
    r = analyse(receiver.requests(), path, expected, t_start)
    r.update({"recorded": recorded, "recorded_at": {s: len(v) for s, v in expected.items()}, "load": load_figures})
    if rec:
        r["record_rate"] = recorded / max(1e-9, rec[1] - rec[0])
        r["record_span_s"] = rec[1] - rec[0]
    return r


def backlog_phase(region, nodes, receiver, monitor, args, pids):
    path = "/backlog"
    # One endpoint, or several (/backlog/<n>): a node holds a quarter of its room for one
    # endpoint, and gives the rest of one endpoint's backlog back to the region, to come again
    # up to a minute later (docs/cluster.md): with one, the drain shows that wait.
    url = [receiver.url(f"{path}/{n}") for n in range(args.backlog_endpoints)]
    base = settled(monitor, 1.0, 60)
    receiver.hold(path)
    t_load = time.monotonic()
    jobs, t0, t1, lat = submit_load(nodes, args.backlog_jobs, args.backlog_recipients, args.threads, url, "backlog")
    wait_final(nodes, jobs, args.timeout)
    recorded = settled(monitor, 1.5, args.timeout) - base
    rec = recording(monitor, t_load, base, recorded)
    # Every batch queued: both dispatchers have read their whole logs, and the queue's counts have
    # not moved for a second.
    wait_for("both nodes' logs read", lambda: (lambda row: row and logs_read(row))(monitor.latest()),
             timeout=args.timeout)
    deadline = time.monotonic() + args.timeout
    last, since = None, time.monotonic()
    while True:
        q = queue_state(region)
        if q != last:
            last, since = q, time.monotonic()
        elif time.monotonic() - since >= 1.0:
            break
        check(time.monotonic() < deadline, f"the queue did not settle in {args.timeout} s: {q}")
        time.sleep(0.1)
    held = receiver.stats(path)
    print(f"  {len(jobs)} jobs in {t1 - t0:.1f} s ({len(jobs) / (t1 - t0):.0f} jobs/s), every one final, "
          f"{recorded:.0f} events recorded; queue: {last[0]} batches in TXMAIL_HOOKS not handed out, {last[1]} "
          f"handed to the nodes; the receiver holds {held['requests']} requests ({held['notifications']} "
          f"notifications)", flush=True)
    load = Load(pids)
    t_release = receiver.release(path)
    r = received_figures(receiver, path, nodes, monitor, args, load, jobs, recorded, rec, t_release)
    r.update({"jobs": len(jobs), "submit_rate": len(jobs) / (t1 - t0), "queue_at_release": last, "held": held})
    return r


# --- the run -------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description="push notifications through the region's queue (TXMAIL_HOOKS)")
    p.add_argument("--jobs", type=int, default=700, help="jobs of the live phase (default 700: about 105,000 events)")
    p.add_argument("--recipients", type=int, default=50, help="recipients per job (default 50)")
    p.add_argument("--threads", type=int, default=4, help="submitting threads, half at each node (default 4)")
    p.add_argument("--backlog-recipients", type=int, default=15,
                   help="recipients per job of the backlog phase (default 15: smaller batches, more of them than "
                        "the nodes take from the queue at once)")
    p.add_argument("--backlog-jobs", type=int, default=None,
                   help="jobs of the backlog phase (default: as many recipients in all as the live phase; "
                        "0: no backlog phase)")
    p.add_argument("--backlog-endpoints", type=int, default=8,
                   help="endpoints the backlog's jobs name in turn (default 8; 1: one endpoint's backlog)")
    p.add_argument("--sample", type=int, default=60, help="jobs followed at both sites during the load (default 60)")
    p.add_argument("--trackers", type=int, default=2, help="jobs followed at a time (default 2)")
    p.add_argument("--poll-interval", type=float, default=0.005, help="pause between two status polls (s)")
    p.add_argument("--monitor-interval", type=float, default=0.1, help="period of the /metrics polls (s)")
    p.add_argument("--quiet", type=float, default=45,
                   help="stop waiting for missing notifications after this long with nothing new and both nodes "
                        "idle (s; more than the queue's 30 s acknowledgement wait)")
    p.add_argument("--timeout", type=float, default=300, help="limit for each wait (s)")
    p.add_argument("--receiver", metavar="DIR", help=argparse.SUPPRESS)   # the receiver process
    args = p.parse_args()
    if args.receiver:
        receiver_main(args.receiver)
        return 0
    check(args.threads >= 2, "--threads: at least 2 (one per node)")
    check(args.jobs > 0 and args.recipients > 0, "--jobs and --recipients: at least 1")
    if args.backlog_jobs is None:
        args.backlog_jobs = -(-args.jobs * args.recipients // args.backlog_recipients)
    check(args.backlog_recipients > 0, "--backlog-recipients: at least 1")
    check(args.backlog_endpoints > 0, "--backlog-endpoints: at least 1")

    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    nats_version = subprocess.run(["nats-server", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores ({model}), "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, load average "
          f"{os.getloadavg()[0]:.2f}; {nats_version}; txmail {TXMAIL}", flush=True)
    print(f"load: REST jobs of {args.recipients} recipients from {args.threads} threads (half at a, half at b): "
          f"live {args.jobs} jobs (+ up to {args.sample} followed at both sites, {args.trackers} at a time), "
          f"backlog {args.backlog_jobs} jobs of {args.backlog_recipients} recipients to "
          f"{args.backlog_endpoints} endpoint(s)", flush=True)

    t_begin = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="txmail-bench-hooks-")
    receiver = Receiver(scratch)
    sink = SmtpSink(scratch)
    nodes = {}
    result = {}
    try:
        with NatsRegion() as region:
            key = os.path.join(region.dir, "cluster.key")
            run("cluster", "keygen", key)
            delivery = (f'tls = "disabled"\nidle_connection = "1s"\n'
                        f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.1:{sink.port}"\n')
            for site in SITES:
                tx = Txmail(name=f"node-{site}", accounts=ACCOUNTS, delivery=delivery, tls_files=True,
                            node_settings=f'site = "{site}"\nregion = "r1"', extra=node_extra(region, site, key))
                # The harness logs at debug level; a benchmark logs as production does.
                tx.config_text = tx.config_text.replace('level = "debug"', 'level = "info"')
                with open(tx.config, "w") as f:
                    f.write(tx.config_text)
                nodes[site] = tx
            init = run("cluster", "init", "--config", nodes["a"].config)
            check("TXMAIL_HOOKS " in init and "txmail_hooks" in init, f"cluster init made no queue: {init}")
            for tx in nodes.values():
                tx.start()
            for site, tx in nodes.items():
                wait_for(f"{site} ready", lambda tx=tx: harness_http(tx, "GET", "/readyz").status == 200, timeout=60)

            def pids():
                out = [os.getpid(), receiver.proc.pid, sink.proc.pid]
                out += [pr.pid for pr in region.procs.values() if pr.poll() is None]
                out += [tx.proc.pid for tx in nodes.values() if tx.proc is not None]
                return out

            monitor = Monitor(nodes, args.monitor_interval)

            print("\n[warm-up] 2 jobs x 5 recipients at each node", flush=True)
            warm, _, _, _ = submit_load(nodes, 4, 5, 2, receiver.url("/warmup"), "warm-up")
            wait_final(nodes, warm, 60)
            warm_events = sum(len(own_events(tx, {j for j, _ in warm})) for tx in nodes.values())
            wait_for("the warm-up's notifications", lambda: receiver.stats("/warmup")["distinct"] >= warm_events,
                     timeout=60)
            print(f"  {warm_events} events, all at the receiver", flush=True)

            print(f"\n[live] {args.jobs} jobs at a and b, the receiver answering at once; up to {args.sample} "
                  f"jobs followed at both sites", flush=True)
            result["live"] = live_phase(nodes, receiver, monitor, args, pids)
            if args.backlog_jobs > 0:
                print(f"\n[backlog] {args.backlog_jobs} jobs at a and b while the receiver holds every request; "
                      f"then it answers", flush=True)
                result["backlog"] = backlog_phase(region, nodes, receiver, monitor, args, pids)
            row = monitor.latest()
            result["node_metrics"] = {s: {k: v for k, v in m.items() if k.startswith("txmail_webhook_")}
                                      for s, m in row.items()}
            result["sink_messages"] = sink.count()
            monitor.stop()
            for site, tx in nodes.items():
                result.setdefault("stopped", {})[site] = tx.stop(timeout=60)
                result.setdefault("log", {})[site] = log_problems(tx)
    finally:
        for tx in nodes.values():
            if tx.proc and tx.proc.poll() is None:
                tx.stop(timeout=60)
        sink.stop()
        receiver.stop()
        if KEEP:
            print("kept: " + " ".join([tx.dir for tx in nodes.values()] + [scratch]), file=sys.stderr)
        else:
            for tx in nodes.values():
                shutil.rmtree(tx.dir, ignore_errors=True)
            shutil.rmtree(scratch, ignore_errors=True)
    report(result, args, time.monotonic() - t_begin)
    problems = [f"{name}: {len(r['lost'])} notifications lost, e.g. {r['lost'][:3]}"
                for name, r in result.items() if name in ("live", "backlog") and r["lost"]]
    if any(rc != 0 for rc in result["stopped"].values()):
        problems.append(f"a node did not stop cleanly: {result['stopped']}")
    if problems:
        fail("; ".join(problems))
    return 0


def report(result, args, total_s):
    def delivered_by(r):
        ps = r["per_site"]
        total = max(1, sum(x["requests"] for x in ps.values()))
        return (f"{r['requests']} POSTs, {r['batch_p50']:.0f} notifications per batch at p50, {r['batch_max']} at "
                f"most; sent by a ({SOURCE['a']}) {ps['a']['requests']} ({100 * ps['a']['requests'] / total:.1f}%, "
                f"{ps['a']['notifications']} notifications), by b ({SOURCE['b']}) {ps['b']['requests']} "
                f"({100 * ps['b']['requests'] / total:.1f}%, {ps['b']['notifications']} notifications)"
                + (f"; from other addresses: {r['other_peers']}" if r["other_peers"] else ""))

    def checks(r):
        c = r["crossed"]
        return (f"recorded at a and sent by b {c['a->b']}, recorded at b and sent by a {c['b->a']} (same site: "
                f"a {c['a->a']}, b {c['b->b']}); lost {len(r['lost'])}, duplicates {r['duplicates']} "
                f"({r['duplicated_tags']} events received more than once), unexpected {r['unexpected']}")

    print(f"\n=== cluster push notifications: nodes a and b through TXMAIL_HOOKS (run {total_s:.0f} s) ===")
    r = result["live"]
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["kinds"].items()))
    print(f"live load    : {r['jobs']} jobs x {args.recipients} recipients + {r['followed']} followed, submitted at "
          f"{r['submit_rate']:.0f} jobs/s (answer p50 {r['submit_p50_ms']:.0f} ms, p99 {r['submit_p99_ms']:.0f} ms); "
          f"every job final {r['final_s']:.1f} s after the start")
    print(f"live events  : {r['recorded']:.0f} recorded (a {r['recorded_at']['a']}, b {r['recorded_at']['b']}), "
          + (f"at {r['record_rate']:.0f} events/s over {r['record_span_s']:.1f} s "
             f"(+-{1000 * args.monitor_interval:.0f} ms); " if "record_rate" in r else "")
          + f"{r['distinct']} received ({kinds})")
    print(f"live rate    : {r['rate_span']:.0f} notifications/s from the first to the last ({r['span_s']:.1f} s); "
          f"{r['rate_since_start']:.0f}/s from the start of the load ({r['since_start_s']:.1f} s); the last arrived "
          + (f"{r['after_recorded_ms']:.0f} ms after the nodes' counts showed every event recorded"
             if "after_recorded_ms" in r else "")
          + " (paced by the load, not the queue, when the two rates are close)")
    print(f"live lag     : event time -> arrival: p50 {r['lag_p50_ms']:.0f} ms, p99 {r['lag_p99_ms']:.0f} ms, max "
          f"{r['lag_max_ms']:.0f} ms; last arrival {r['tail_ms']:.0f} ms after the newest event's time (ms "
          f"resolution)")
    print(f"live batches : {delivered_by(r)}")
    print(f"live checks  : {checks(r)}")
    s = r["status_lag"]
    if s:
        print(f"status lag   : {s['jobs']} followed jobs ({r['followed_under_load']} submitted while the load was "
              f"being submitted), {s['answers']} status changes at the job's node: the other site p50 "
              f"{s['p50_ms']:.0f} ms, p99 {s['p99_ms']:.0f} ms, max {s['max_ms']:.0f} ms; > 1 s: {s['over_1s']}; "
              f"final answer p50 {s['final_p50_ms']:.0f} / p99 {s['final_p99_ms']:.0f} ms; poll gap p50 "
              f"{s['poll_gap_p50_ms']:.1f} / p99 {s['poll_gap_p99_ms']:.1f} ms")
    print("live CPU     : " + describe_load(r["load"]))
    if "backlog" in result:
        r = result["backlog"]
        q, held = r["queue_at_release"], r["held"]
        print(f"backlog      : {r['jobs']} jobs x {args.backlog_recipients} recipients to "
              f"{args.backlog_endpoints} endpoint(s) "
              f"({r['submit_rate']:.0f} jobs/s), {r['recorded']:.0f} events recorded "
              f"(a {r['recorded_at']['a']}, b {r['recorded_at']['b']})"
              + (f" at {r['record_rate']:.0f} events/s" if "record_rate" in r else "")
              + f"; at the release {q[0]} batches in the stream not handed out, {q[1]} held by the nodes, "
              f"{held['requests']} requests ({held['notifications']} notifications) held by the receiver")
        print(f"backlog rate : {r['rate_since_start']:.0f} notifications/s from the release to the last arrival "
              f"({r['distinct']} in {r['since_start_s']:.2f} s)   [target >= 20,000/s]")
        print(f"backlog batch: {delivered_by(r)}")
        print(f"backlog check: {checks(r)}")
        print("backlog CPU  : " + describe_load(r["load"]))
    for site, m in result["node_metrics"].items():
        print(f"node {site}       : posts {m.get('txmail_webhook_posts_total', 0):.0f}, notifications "
              f"{m.get('txmail_webhook_notifications_total', 0):.0f}, failures "
              f"{m.get('txmail_webhook_failures_total', 0):.0f}, refused "
              f"{m.get('txmail_webhook_refused_total', 0):.0f}, dead {m.get('txmail_webhook_dead_total', 0):.0f} "
              "(since its start, warm-up included)")
    print(f"sink         : smtp-sink counted {result['sink_messages']} messages")
    for site, (count, first) in result["log"].items():
        print(f"log {site}        : {count} lines at warning level or above"
              + "".join("\n    " + l[:300] for l in first))
    print("method: lag = first arrival (receiver clock) - meta.event.ts (same machine); status lag = GET /v2/jobs/{id} "
          "polled at both sites, time until the other site gives each answer; rates count distinct events")


if __name__ == "__main__":
    sys.exit(main())
