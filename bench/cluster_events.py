"""Cluster events benchmark (issue site-3, item 1): how fast the events a node records reach the
other site, run by bench/cluster_events.sh.

A region on loopback as in tests/e2e/cluster_shared_state.py: three nats-servers (sites a and
b, the witness w; tests/lib/txmail_harness.py NatsRegion), `txmail cluster keygen`, `cluster
init`, nodes node-a (site a) and node-b (site b), one account, every recipient relayed
([[delivery.route]] domain "*") to the harness's SMTP Sink, which accepts everything. Jobs are
REST jobs (POST /v2/jobs, JSON as the e2e tests send) submitted at node a only, each to
--recipients recipients of one domain, from --threads threads (one keep-alive connection each);
each recipient yields a STARTED and a DELIVERED event, all recorded at a and copied to b
through the stream TXMAIL_EVENTS.

1. Backlog (skipped with --backlog-jobs 0): node b is not started yet. --backlog-jobs jobs at a,
   each waited for until final; once a's txmail_cluster_events_published_total has stopped
   moving, b starts with an empty log and copies the whole stream. b copies most of it while it
   starts, before its HTTP listener answers, so its progress is read every 10 ms from its
   events.db (read-only, as `txmail events` reads it): the stream position stored with each
   copied batch ("region.imported"). Reported: the copy rate (stream messages / the time from
   the last reading before the first copied batch to the first reading showing the stream's
   last seq: a lower bound), the time from b's process start until all is copied, and until
   its /metrics show txmail_cluster_events_imported_total = a's published_total, pending 0.
   This is the copy's own speed, not bounded by how fast a produces events.

2. Live: b running. --jobs jobs at a, as fast as the threads go, while both nodes' /metrics are
   polled. Reported: a's submission rate, a's event rate (published_total over time), the
   copy rate at b over the same period, and the tail: from the moment a's published_total
   reached its final value to the moment b's imported_total reached it (with pending 0).
   During the same load, --sample jobs (submitted by --trackers tracker threads, one job at a
   time each, besides the load) are followed at both nodes: for each, one thread polls
   GET /v2/jobs/{id} at a and another at b (keep-alive connections, --poll-interval s between
   polls), each keeping the first time it got each distinct answer. The lag of one of a's
   answers is the time from a's first giving it to b's first giving it or a later one of a's
   answers (as tests/e2e/cluster_shared_state.py does: b may skip a state a showed for a few
   milliseconds). That is the true status-read lag across sites, to within one poll round trip
   at each node (the poll gap is reported). Then --idle-sample more jobs the same way with no
   load, for comparison.
   Also shown: b's txmail_cluster_events_import_lag_milliseconds, sampled by the monitor. It is
   a gauge (the age of the newest event of b's latest import batch, when that batch was
   stored), not a histogram: its samples are a view of the latest batch only, not of every
   event, and the figures above do not use it.

The machine's load (load average, CPU busy from /proc/stat, and the share of it taken by the
benchmark's own processes) is printed per phase: the machine may be shared.

Environment: TXMAIL_BIN (build/txmail), KEEP=1 keeps the scratch files.
Usage: /usr/bin/python3 bench/cluster_events.py [--jobs N] [--recipients R] [--threads T]
       [--backlog-jobs N] [--sample S] [--trackers K] [--idle-sample S] [--poll-interval SEC]
       [--monitor-interval SEC] [--timeout SEC]   (PYTHONPATH=tests/lib)
"""
import argparse
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time

from txmail_harness import PASSWORD, NatsRegion, Sink, Txmail, check, fail, free_port, js_api, wait_for
from txmail_harness import http as harness_http

TXMAIL = os.environ.get("TXMAIL_BIN", "build/txmail")
KEEP = os.environ.get("KEEP") == "1"
USER = "bench"
ACCOUNTS = (f'[[account]]\nname = "{USER}"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\n'
            'hourly_limit = 0  # throughput, not the hourly limit\n')
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
METRICS = ("txmail_cluster_events_published_total", "txmail_cluster_events_imported_total",
           "txmail_cluster_events_import_pending", "txmail_cluster_events_import_lag_milliseconds",
           "txmail_cluster_events_publish_failures_total")


# --- helpers -----------------------------------------------------------------------------------

def run(*args, timeout=120):
    out = subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=timeout)
    check(out.returncode == 0, f"txmail {' '.join(args)}: {out.stdout} {out.stderr}")
    return out.stdout


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p * len(s)) - 1))] if s else float("nan")


def job_body(subject, recipients):
    return {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "Your code is 123456."},
            "mail": {"from": {"email": "shop@sender.test"}},
            "recipients": [{"mail": {"to": [{"email": f"r{i}@dest.test"} for i in range(recipients)]}}]}


class Client:
    """One keep-alive HTTP connection to a node's API (as the bench account); reconnects once
    when the node closed it."""

    def __init__(self, tx):
        self.port = tx.ports["http"]
        self.conn = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = dict(AUTH)
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                text = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, text
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt == 1:
                    raise
        return None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def read_metrics(client):
    status, body = client.call("GET", "/metrics")
    check(status == 200, f"/metrics: {status}")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith("txmail_cluster_events_"):
            name, _, value = line.partition(" ")
            if name in METRICS:
                out[name] = float(value)
    return out


def proc_cpu(pid):
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0


def machine_cpu():
    """(busy, total) jiffies of the whole machine (/proc/stat)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


class Load:
    """The machine's CPU over a phase: busy share of all cores, and how much of that was the
    benchmark's own processes (the nodes, the nats-servers, the sink, this script)."""

    def __init__(self, pids):
        self.pids = pids
        self.t0 = time.monotonic()
        self.m0 = machine_cpu()
        self.own0 = {p: proc_cpu(p) for p in pids()}
        self.load0 = os.getloadavg()[0]

    def done(self):
        elapsed = time.monotonic() - self.t0
        m1 = machine_cpu()
        busy = (m1[0] - self.m0[0]) / max(1, m1[1] - self.m0[1])
        own = sum(proc_cpu(p) - self.own0.get(p, 0.0) for p in self.pids())
        ncpu = os.cpu_count()
        return {"elapsed_s": elapsed, "busy": busy, "own": own / (elapsed * ncpu), "load_start": self.load0,
                "load_end": os.getloadavg()[0]}


def describe_load(l):
    return (f"machine CPU busy {100 * l['busy']:.0f}% of {os.cpu_count()} cores "
            f"(this benchmark {100 * l['own']:.0f}%, others {100 * max(0.0, l['busy'] - l['own']):.0f}%), "
            f"load average {l['load_start']:.2f} -> {l['load_end']:.2f}")


class Monitor:
    """Polls the cluster events metrics of the given nodes; keeps (time, {node: metrics})."""

    def __init__(self, nodes, interval):
        self.nodes = nodes
        self.interval = interval
        self.samples = []
        self.errors = 0
        self.last_error = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _run(self):
        clients = {}
        while not self.stopping.is_set():
            t = time.monotonic()
            row = {}
            for name, tx in list(self.nodes.items()):
                if tx.proc is None or tx.proc.poll() is not None or not tx.ports:
                    continue
                try:
                    c = clients.setdefault(name, Client(tx))
                    row[name] = read_metrics(c)
                except (OSError, KeyError, SystemExit, http.client.HTTPException) as e:
                    # A node starting or stopping; anything else fails the run in wait_*.
                    self.errors += 1
                    self.last_error = f"{name}: {type(e).__name__}: {e}"
                    clients.pop(name, None)
            with self.lock:
                self.samples.append((t, row))
            self.stopping.wait(max(0.0, self.interval - (time.monotonic() - t)))

    def latest(self, node):
        with self.lock:
            for t, row in reversed(self.samples):
                if node in row:
                    return t, row[node]
        return None, None

    def stop(self):
        self.stopping.set()
        self.thread.join(10)

    def series(self, node, name, since=None):
        with self.lock:
            return [(t, row[node][name]) for t, row in self.samples
                    if node in row and name in row[node] and (since is None or t >= since)]


def first_reaching(series, value):
    """The first time in `series` [(t, v)] at which v >= value (None: never)."""
    return next((t for t, v in series if v >= value), None)


def last_change(series):
    """The time of the first sample holding the series' final value."""
    if not series:
        return None
    final = series[-1][1]
    t_final = series[-1][0]
    for t, v in reversed(series):
        if v != final:
            break
        t_final = t
    return t_final


def submit_jobs(tx, n, recipients, threads, prefix):
    """n jobs at tx from `threads` threads; returns ([job ids], first submission, last answer,
    [answer latency in s])."""
    ids, latencies, errors = [], [], []
    lock = threading.Lock()
    counter = iter(range(n))
    times = []

    def worker():
        c = Client(tx)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            t = time.monotonic()
            try:
                status, body = c.call("POST", "/v2/jobs", job_body(f"{prefix} {i}", recipients))
            except Exception as e:  # noqa: BLE001 -- reported below
                status, body = None, str(e).encode()
            t1 = time.monotonic()
            with lock:
                times.append((t, t1))
                if status == 202:
                    ids.append(json.loads(body)["jobId"])
                    latencies.append(t1 - t)
                else:
                    errors.append((status, body[:300]))
        c.close()

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not errors, f"{len(errors)} of {n} jobs refused, e.g. {errors[:3]}")
    return ids, min(t for t, _ in times), max(t for _, t in times), latencies


def wait_finished(tx, ids, timeout):
    """Until GET /v2/jobs/{id} at tx says finished for every job (each asked until it does)."""
    c = Client(tx)
    left = list(ids)
    deadline = time.monotonic() + timeout
    while left:
        if time.monotonic() > deadline:
            fail(f"{len(left)} of {len(ids)} jobs not finished at {tx.name} after {timeout} s, e.g. {left[:3]}")
        still = []
        for j in left:
            status, body = c.call("GET", f"/v2/jobs/{j}")
            if status != 200 or not json.loads(body).get("finished"):
                still.append(j)
        left = still
        if left:
            time.sleep(0.5)
    c.close()


def wait_stable(monitor, node, name, quiet=1.5, timeout=120):
    """Until `name` at `node` has not moved for `quiet` seconds; returns its value."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        _, m = monitor.latest(node)
        v = m.get(name) if m else None
        if v != last:
            last, since = v, time.monotonic()
        elif v is not None and time.monotonic() - since >= quiet:
            return v
        time.sleep(0.05)
    fail(f"{name} at {node} did not settle in {timeout} s (monitor errors {monitor.errors}: {monitor.last_error})")


def wait_copied(monitor, target, timeout):
    """Until b's imported_total reaches `target` with pending 0; returns the time (monotonic) of
    the first sample that showed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with monitor.lock:
            hit = next((t for t, row in monitor.samples if "b" in row
                        and row["b"].get("txmail_cluster_events_imported_total", -1) >= target
                        and row["b"].get("txmail_cluster_events_import_pending", -1) == 0), None)
        if hit is not None:
            return hit
        time.sleep(0.05)
    _, m = monitor.latest("b")
    fail(f"b did not copy {target} events in {timeout} s: its metrics {m}")


# --- status-read lag -----------------------------------------------------------------------------

def follow_job(origin, other, body, poll_interval, job_timeout, what):
    """Submits `body` at `origin` (a Client) and polls the job's status there (one thread) and at
    `other` (another) until `other` gives the origin's final answer. The lags: for each answer
    of the origin, the time until `other` gave it or a later one. Keys "a": the origin, "b":
    the other node (what summarize_lags reads)."""
    status, answer = origin.call("POST", "/v2/jobs", body)
    check(status == 202, f"{what}: {status} {answer[:300]}")
    job_id = json.loads(answer)["jobId"]
    t_submit = time.monotonic()
    seen = {"a": {}, "b": {}}   # answer (canonical JSON) -> when first seen
    gaps = {"a": [], "b": []}
    final_a = threading.Event()
    done = threading.Event()
    timed_out = []

    def poll(site, client):
        last = None
        deadline = time.monotonic() + job_timeout
        while not done.is_set():
            if time.monotonic() > deadline:
                timed_out.append(site)
                done.set()
                return
            st, body = client.call("GET", f"/v2/jobs/{job_id}")
            now = time.monotonic()
            if last is not None:
                gaps[site].append(now - last)
            last = now
            if st == 200:
                j = json.loads(body)
                key = json.dumps(j, sort_keys=True)
                seen[site].setdefault(key, now)
                if site == "a" and j.get("finished"):
                    final_a.set()
                    return
                if site == "b" and final_a.is_set():
                    final = [k for k in seen["a"] if json.loads(k).get("finished")]
                    if final and final[0] in seen["b"]:
                        done.set()
                        return
            if poll_interval:
                time.sleep(poll_interval)

    tb = threading.Thread(target=poll, args=("b", other), daemon=True)
    tb.start()
    poll("a", origin)
    tb.join()
    check(not timed_out, f"job {job_id}: not final at both nodes within {job_timeout} s "
                         f"(a: {len(seen['a'])} answers, b: {len(seen['b'])})")
    order = list(seen["a"])   # a's answers in the order a gave them
    check(order[-1] in seen["b"], f"job {job_id}: b never gave a's final answer")
    b_at = sorted((order.index(k), t) for k, t in seen["b"].items() if k in seen["a"])
    lags = []
    for i, answer in enumerate(order):
        caught_up = min(t for j, t in b_at if j >= i)
        lags.append(max(0.0, caught_up - seen["a"][answer]))
    return {"job": job_id, "t": t_submit, "lags": lags, "answers_a": len(order),
            "answers_b": len(seen["b"]), "gap_a": gaps["a"], "gap_b": gaps["b"],
            "unmatched_b": sum(1 for k in seen["b"] if k not in seen["a"])}


class Tracker:
    """Follows jobs at a and b: per job, one thread polls a and one polls b."""

    def __init__(self, a, b, recipients, poll_interval, job_timeout=60):
        self.a, self.b = a, b
        self.recipients = recipients
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.ca, self.cb = Client(a), Client(b)
        self.results = []   # per job: {"lags": [s], "answers_a", "answers_b", "gap_a", "gap_b", ...}

    def follow(self, subject):
        self.results.append(follow_job(self.ca, self.cb, job_body(subject, self.recipients),
                                       self.poll_interval, self.job_timeout, "tracked job"))

    def close(self):
        self.ca.close()
        self.cb.close()


def track(a, b, n, trackers, recipients, poll_interval, prefix, stop_early=None):
    """n jobs followed, `trackers` at a time; returns every job's result."""
    counter = iter(range(n))
    lock = threading.Lock()
    results = []
    failures = []

    def worker():
        t = Tracker(a, b, recipients, poll_interval)
        try:
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                t.follow(f"{prefix} {i}")
        except SystemExit as e:   # check() failed in this thread
            failures.append(str(e))
        finally:
            t.close()
            with lock:
                results.extend(t.results)

    ts = [threading.Thread(target=worker, daemon=True) for _ in range(trackers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    check(not failures, f"status tracking failed: {failures}")
    return results


def summarize_lags(results, label):
    lags = [x * 1000 for r in results for x in r["lags"]]
    first = [r["lags"][0] * 1000 for r in results]
    final = [r["lags"][-1] * 1000 for r in results]
    gaps = [x * 1000 for r in results for x in r["gap_a"] + r["gap_b"]]
    out = {"label": label, "jobs": len(results), "answers": len(lags),
           "p50_ms": pct(lags, 0.50), "p99_ms": pct(lags, 0.99), "max_ms": max(lags) if lags else float("nan"),
           "first_p50_ms": pct(first, 0.5), "final_p50_ms": pct(final, 0.5), "final_p99_ms": pct(final, 0.99),
           "poll_gap_p50_ms": pct(gaps, 0.5), "poll_gap_p99_ms": pct(gaps, 0.99),
           "over_1s": sum(1 for x in lags if x > 1000),
           "skipped_at_b": sum(r["answers_a"] - (r["answers_b"] - r["unmatched_b"]) for r in results)}
    return out


# --- the run -----------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description="cross-site copy of events (TXMAIL_EVENTS) benchmark")
    p.add_argument("--jobs", type=int, default=2000, help="jobs of the live phase (default 2000)")
    p.add_argument("--recipients", type=int, default=5, help="recipients per job (default 5)")
    p.add_argument("--threads", type=int, default=4, help="submitting threads (default 4)")
    p.add_argument("--backlog-jobs", type=int, default=2000,
                   help="jobs recorded at a before b starts (default 2000; 0: no backlog phase)")
    p.add_argument("--sample", type=int, default=200, help="jobs followed at a and b during the load (default 200)")
    p.add_argument("--trackers", type=int, default=8, help="jobs followed at a time (default 8)")
    p.add_argument("--idle-sample", type=int, default=50, help="jobs followed after the load (default 50)")
    p.add_argument("--poll-interval", type=float, default=0.002, help="pause between two status polls (s)")
    p.add_argument("--monitor-interval", type=float, default=0.05, help="period of the /metrics polls (s)")
    p.add_argument("--timeout", type=float, default=300, help="limit for each wait (s)")
    args = p.parse_args()

    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "?")
    nats_version = subprocess.run(["nats-server", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores ({model}), "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, load average "
          f"{os.getloadavg()[0]:.2f}; {nats_version}; txmail {TXMAIL}", flush=True)
    print(f"load: REST jobs at node a, {args.recipients} recipients each, {args.threads} threads; "
          f"backlog {args.backlog_jobs} jobs, live {args.jobs} jobs, status followed for {args.sample} jobs "
          f"under load ({args.trackers} at a time) and {args.idle_sample} idle", flush=True)

    t_begin = time.monotonic()
    sink = Sink("127.0.0.1", free_port())
    result = {}
    nodes = []
    try:
        with NatsRegion() as region:
            key = os.path.join(region.dir, "cluster.key")
            run("cluster", "keygen", key)
            delivery = (f'tls = "disabled"\nidle_connection = "1s"\n'
                        f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.1:{sink.port}"\n')

            def make(site):
                tx = Txmail(name=f"node-{site}", accounts=ACCOUNTS, delivery=delivery, tls_files=True,
                            node_settings=f'site = "{site}"\nregion = "r1"',
                            extra=(f'[cluster]\nnats = ["{region.url(site)}"]\nmaster_key_file = "{key}"\n'
                                   f'quorum_grace = "12s"\ntimeout = "2s"\nsites = ["a", "b"]\n'))
                # The harness logs at debug level; a benchmark logs as production does.
                tx.config_text = tx.config_text.replace('level = "debug"', 'level = "info"')
                with open(tx.config, "w") as f:
                    f.write(tx.config_text)
                return tx

            a, b = make("a"), make("b")
            nodes = [a, b]
            run("cluster", "init", "--config", a.config)

            def pids():
                out = [os.getpid(), sink.proc.pid]
                out += [pr.pid for pr in region.procs.values() if pr.poll() is None]
                out += [tx.proc.pid for tx in nodes if tx.proc is not None]
                return out

            a.start()
            wait_for("a ready", lambda: harness_http(a, "GET", "/readyz").status == 200, timeout=60)
            monitor = Monitor({"a": a, "b": b}, args.monitor_interval).start()
            wait_stable(monitor, "a", "txmail_cluster_events_published_total", quiet=0.5)

            # --- 1. Backlog: b starts after a recorded everything.
            if args.backlog_jobs > 0:
                print(f"\n[backlog] {args.backlog_jobs} jobs at a, b not running", flush=True)
                load = Load(pids)
                ids, t0, t1, lat = submit_jobs(a, args.backlog_jobs, args.recipients, args.threads, "backlog")
                wait_finished(a, ids, args.timeout)
                published = wait_stable(monitor, "a", "txmail_cluster_events_published_total")
                t_a_done = last_change(monitor.series("a", "txmail_cluster_events_published_total"))
                print(f"  a: {len(ids)} jobs in {t1 - t0:.1f} s ({len(ids) / (t1 - t0):.0f} jobs/s), "
                      f"all final and {published:.0f} events published after {t_a_done - t0:.1f} s", flush=True)
                last_seq = js_api(region, "STREAM.INFO.TXMAIL_EVENTS", {})["state"]["last_seq"]
                # b copies most of the backlog while it starts, before its HTTP listener (and
                # /metrics) answers: its progress is read from its events.db (read-only, as
                # `txmail events` does), the stream position stored with each copied batch.
                db = os.path.join(b.data_dir, "events.db")
                progress = []   # (time, region.imported)
                stop_watch = threading.Event()

                def watch():
                    import sqlite3
                    conn = None
                    while not stop_watch.is_set():
                        try:
                            if conn is None and os.path.exists(db):
                                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                            if conn is not None:
                                row = conn.execute("SELECT seq FROM positions WHERE name = 'region.imported'").fetchone()
                                progress.append((time.monotonic(), row[0] if row else 0))
                                if row and row[0] >= last_seq:
                                    break
                        except sqlite3.Error:
                            if conn is not None:
                                conn.close()
                            conn = None
                        time.sleep(0.01)
                    if conn is not None:
                        conn.close()

                watcher = threading.Thread(target=watch, daemon=True)
                t_start = time.monotonic()
                watcher.start()
                b.start()
                t_listening = time.monotonic()
                t_copied = wait_copied(monitor, published, args.timeout)
                stop_watch.set()
                watcher.join(10)
                t_db_done = first_reaching(progress, last_seq)
                check(t_db_done is not None, f"b's events.db never reached stream seq {last_seq}: {progress[-3:]}")
                # The copy's span: from the last reading before the first copied batch (the
                # first batch may have been stored at any time after it) to the first reading
                # showing all: an upper bound on its length, a lower bound on its rate.
                i_first = next(i for i, (t, v) in enumerate(progress) if v > 0)
                t_first = progress[i_first - 1][0] if i_first > 0 else t_start
                span = t_db_done - t_first
                r = {"jobs": len(ids), "events": published, "stream_seq": last_seq,
                     "start_to_listening_s": t_listening - t_start,
                     "start_to_copied_s": t_db_done - t_start, "start_to_metrics_s": t_copied - t_start,
                     "copy_span_s": span, "copy_rate": last_seq / span,
                     "batches_seen": len({v for _, v in progress}), "load": load.done()}
                result["backlog"] = r
                print(f"  b: started; all {last_seq} stream messages copied (events.db) {r['start_to_copied_s']:.2f} s "
                      f"after its start, listening after {r['start_to_listening_s']:.2f} s, /metrics showing all "
                      f"after {r['start_to_metrics_s']:.2f} s; copying took <= {span:.2f} s: "
                      f">= {r['copy_rate']:.0f} events/s", flush=True)
                print("  " + describe_load(r["load"]), flush=True)
            else:
                b.start()
            wait_for("b ready", lambda: harness_http(b, "GET", "/readyz").status == 200, timeout=60)

            # --- 2. Live: load at a while b copies; status followed at both.
            print(f"\n[live] {args.jobs} jobs at a, b copying; {args.sample} jobs followed at a and b", flush=True)
            _, ma = monitor.latest("a")
            _, mb = monitor.latest("b")
            pub0 = ma["txmail_cluster_events_published_total"]
            imp0 = mb["txmail_cluster_events_imported_total"]
            load = Load(pids)
            t_live = time.monotonic()
            tracked = {}
            tracker_thread = threading.Thread(
                target=lambda: tracked.setdefault("r", track(a, b, args.sample, args.trackers, args.recipients,
                                                             args.poll_interval, "followed")), daemon=True)
            tracker_thread.start()
            ids, t0, t1, lat = submit_jobs(a, args.jobs, args.recipients, args.threads, "live")
            t_load_end = time.monotonic()
            tracker_thread.join(args.timeout)
            check("r" in tracked, "the followed jobs did not finish")
            wait_finished(a, ids, args.timeout)
            published = wait_stable(monitor, "a", "txmail_cluster_events_published_total")
            t_copied = wait_copied(monitor, imp0 + (published - pub0), args.timeout)
            live_load = load.done()
            sa = monitor.series("a", "txmail_cluster_events_published_total", since=t_live - 1)
            sb = monitor.series("b", "txmail_cluster_events_imported_total", since=t_live - 1)
            t_a_done = first_reaching(sa, published)
            events = published - pub0
            # b's copy rate while a was producing: from the first sample with some of this phase's
            # events copied to the sample showing all of them.
            t_b_first = first_reaching(sb, imp0 + 1)
            # The gauge changes with each batch stored; a sample is kept only when b's imported
            # count moved since the previous one (else it may still hold the backlog's last batch).
            lag_gauge = []
            prev = None
            with monitor.lock:
                for t, row in monitor.samples:
                    m = row.get("b")
                    if not m or t < t_live or t > t_copied:
                        continue
                    if prev is not None and m["txmail_cluster_events_imported_total"] > prev:
                        lag_gauge.append(m["txmail_cluster_events_import_lag_milliseconds"])
                    prev = m["txmail_cluster_events_imported_total"]
            pend = [v for t, v in monitor.series("b", "txmail_cluster_events_import_pending", since=t_live)
                    if t <= t_copied]
            fails = (monitor.latest("a")[1]["txmail_cluster_events_publish_failures_total"])
            r = {"jobs": len(ids) + args.sample, "events": events, "submit_s": t1 - t0,
                 "submit_rate": len(ids) / (t1 - t0), "submit_p50_ms": pct(lat, 0.5) * 1000,
                 "submit_p99_ms": pct(lat, 0.99) * 1000,
                 "a_events_s": t_a_done - t_live, "a_event_rate": events / (t_a_done - t_live),
                 "b_copy_s": t_copied - t_b_first, "b_copy_rate": events / max(1e-9, t_copied - t_b_first),
                 "end_to_end_s": t_copied - t_live, "tail_ms": (t_copied - t_a_done) * 1000,
                 "pending_max": max(pend) if pend else 0,
                 "lag_gauge_p50_ms": pct(lag_gauge, 0.5), "lag_gauge_max_ms": max(lag_gauge) if lag_gauge else 0,
                 "lag_gauge_samples": len(lag_gauge), "publish_failures": fails, "load": live_load}
            # A followed job is "under load" when it was submitted while a was still recording the
            # load's events (before its published_total reached the final value).
            under = [x for x in tracked["r"] if x["t"] <= t_a_done]
            r["status_lag"] = summarize_lags(tracked["r"], "all followed")
            r["status_lag_during_load"] = summarize_lags(under, "submitted while a was busy") if under else None
            r["followed_during_submissions"] = sum(1 for x in tracked["r"] if x["t"] <= t_load_end)
            result["live"] = r
            print(f"  a: {len(ids)} jobs in {r['submit_s']:.1f} s ({r['submit_rate']:.0f} jobs/s, answer p50 "
                  f"{r['submit_p50_ms']:.0f} ms p99 {r['submit_p99_ms']:.0f} ms); {events:.0f} events published "
                  f"in {r['a_events_s']:.1f} s ({r['a_event_rate']:.0f}/s)", flush=True)
            print(f"  b: copied them all {r['end_to_end_s']:.1f} s after the load began, "
                  f"{r['tail_ms']:.0f} ms after a's last publish; pending at most {r['pending_max']:.0f}", flush=True)
            print("  " + describe_load(live_load), flush=True)

            # --- Idle: the same following, without load.
            if args.idle_sample:
                print(f"\n[idle] {args.idle_sample} jobs followed at a and b, no other load", flush=True)
                load = Load(pids)
                idle = track(a, b, args.idle_sample, 1, args.recipients, args.poll_interval, "idle")
                result["idle"] = {"status_lag": summarize_lags(idle, "idle"), "load": load.done()}
                print("  " + describe_load(result["idle"]["load"]), flush=True)
            ev = run("events", "--job", ids[0], "--config", a.config)
            ev_b = run("events", "--job", ids[0], "--config", b.config)
            kinds = {}
            for line in ev.splitlines():
                if line.strip():
                    e = json.loads(line)
                    kinds[e["type"]] = kinds.get(e["type"], 0) + 1
            result["sanity"] = {"kinds": kinds, "same_at_b": ev == ev_b, "sink_messages": sink.count()}
            monitor.stop()
            check(b.stop() == 0 and a.stop() == 0, "a node did not stop cleanly")
    finally:
        for tx in nodes:
            if tx.proc and tx.proc.poll() is None:
                tx.stop(timeout=60)
        sink.stop()
        if KEEP:
            print("kept: " + " ".join(tx.dir for tx in nodes), file=sys.stderr)
        else:
            for tx in nodes:
                shutil.rmtree(tx.dir, ignore_errors=True)
    report(result, args, time.monotonic() - t_begin)


def report(r, args, total_s):
    print(f"\n=== cluster events: a -> b through TXMAIL_EVENTS (run {total_s:.0f} s) ===")
    if "backlog" in r:
        x = r["backlog"]
        print(f"backlog copy : {x['events']:.0f} events ({x['jobs']} jobs x {args.recipients} rcpts) copied by a "
              f"fresh b at >= {x['copy_rate']:.0f} events/s ({x['copy_span_s']:.2f} s, {x['batches_seen']} positions "
              f"seen; all copied {x['start_to_copied_s']:.2f} s after b's process start, listening at "
              f"{x['start_to_listening_s']:.2f} s)")
    x = r["live"]
    print(f"live copy    : {x['events']:.0f} events ({x['jobs']} jobs); a produced {x['a_event_rate']:.0f} events/s "
          f"({x['submit_rate']:.0f} jobs/s submitted), b copied {x['b_copy_rate']:.0f} events/s; "
          f"b complete {x['tail_ms']:.0f} ms after a's last publish (+-{1000 * args.monitor_interval:.0f} ms); b pending max {x['pending_max']:.0f}; "
          f"a publish failures {x['publish_failures']:.0f}")

    def lag_line(name, s):
        print(f"{name:<13}: {s['jobs']} jobs, {s['answers']} status changes at a: lag p50 {s['p50_ms']:.0f} ms, "
              f"p99 {s['p99_ms']:.0f} ms, max {s['max_ms']:.0f} ms; first answer p50 {s['first_p50_ms']:.0f} ms, "
              f"final p50 {s['final_p50_ms']:.0f} / p99 {s['final_p99_ms']:.0f} ms; > 1 s: {s['over_1s']}; "
              f"poll gap p50 {s['poll_gap_p50_ms']:.1f} / p99 {s['poll_gap_p99_ms']:.1f} ms")

    lag_line("status all", x["status_lag"])
    if x["status_lag_during_load"] and x["status_lag_during_load"]["jobs"] != x["status_lag"]["jobs"]:
        lag_line("status busy", x["status_lag_during_load"])
    print(f"{'':<13}  (followed jobs submitted while a was busy, i.e. before its last event of the live phase: "
          f"{x['status_lag_during_load']['jobs'] if x['status_lag_during_load'] else 0}; "
          f"{x['followed_during_submissions']} of them while jobs were still being submitted)")
    if "idle" in r:
        lag_line("status idle", r["idle"]["status_lag"])
    print(f"lag gauge    : b's txmail_cluster_events_import_lag_milliseconds (a gauge: newest event of the last "
          f"batch), {x['lag_gauge_samples']} samples after a new batch during live: p50 {x['lag_gauge_p50_ms']:.0f} ms, "
          f"max {x['lag_gauge_max_ms']:.0f} ms (not per event; not used above)")
    for phase in ("backlog", "live"):
        if phase in r:
            print(f"load ({phase:<7}): " + describe_load(r[phase]["load"]))
    if "sanity" in r:
        x = r["sanity"]
        print(f"check        : one job's events at a: {x['kinds']}, `txmail events` at b the same: {x['same_at_b']}; "
              f"sink received {x['sink_messages']} messages")
    print("method: status lag = GET /v2/jobs/{id} polled at a and b concurrently; for each distinct answer a gave, "
          "time until b first gave it (or a later one); resolution ~ one poll gap")


if __name__ == "__main__":
    main()
