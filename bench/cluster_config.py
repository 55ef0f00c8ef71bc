"""Cluster configuration benchmark (issue site-1), run by bench/cluster_config.sh.

A region on loopback as in tests/e2e/cluster_region.py: three nats-servers (sites a and b, the
witness w; tests/lib/txmail_harness.py NatsRegion), `txmail cluster init`, one cluster master
key. Four measurements:

1. Propagation. Nodes a (site a) and b (site b). An account is created at a; then CHANGES times
   PATCH /v2/admin/accounts/<name> {"hourlyLimit": i} at a, and as soon as a answers 200, b's
   GET of the account is polled in a tight loop (one keep-alive connection) until it shows i.
   Propagation is a's answer to the answer of the first poll of b that shows the change (an
   upper bound: the change was not visible at the previous poll's answer, one poll round trip
   earlier). Reported: p50 / p99 / max, how many were visible at the first poll, a's PATCH
   latency, and changes/s of the whole loop. Then a burst: CHANGES PATCHes at a back to back
   (no polling), and the time from the last answer until b shows the last value.
2. Start on an empty bucket. A fresh node (site a, its own data directory) is started before
   anything is written: time from the process start to its ports file and to GET /readyz 200,
   and its resident memory (VmRSS) once ready and SETTLE seconds later.
3. Start on a full bucket. build/bench/cluster_config_fill writes N accounts and N sender
   domains (each verified, with an active RSA-2048 key sealed for it) straight into the bucket
   (nodes a and b are stopped first: they would load every entry too). Then fresh nodes start
   against it, STARTS times, measured as in 2; the log's timestamps split each start into the
   configuration snapshot (NATS) and the rest. The nats-servers' memory and the bucket's size
   are reported too, and the time of GET /v2/domains for one account on the full bucket.
4. The background domain verifier on the full bucket: a node whose [dkim] verify_interval is
   VERIFY_INTERVAL seconds (10 minutes by default), its CPU and memory over VERIFY_WATCH seconds
   after it is ready (every domain is verified and was checked just now: no DNS lookups).

Environment: TXMAIL_BIN (build/txmail), FILL_BIN (build/bench/cluster_config_fill),
CHANGES (1000), N (100000), STARTS (2), SETTLE (5), VERIFY_INTERVAL (10), VERIFY_WATCH (35),
RESULTS (a file for the figures as JSON), KEEP=1 keeps the scratch files.
Usage: /usr/bin/python3 bench/cluster_config.py   (PYTHONPATH=tests/lib)
"""
import datetime
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

from txmail_harness import NatsRegion, Txmail, admin_token, check, fail, wait_for

TXMAIL = os.environ.get("TXMAIL_BIN", "build/txmail")
FILL = os.environ.get("FILL_BIN", "build/bench/cluster_config_fill")
CHANGES = int(os.environ.get("CHANGES", "1000"))
N = int(os.environ.get("N", "100000"))
STARTS = int(os.environ.get("STARTS", "2"))
SETTLE = float(os.environ.get("SETTLE", "5"))
VERIFY_INTERVAL = int(os.environ.get("VERIFY_INTERVAL", "10"))
VERIFY_WATCH = float(os.environ.get("VERIFY_WATCH", "35"))
KEEP = os.environ.get("KEEP") == "1"


def run(*args, timeout=120):
    out = subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=timeout)
    check(out.returncode == 0, f"txmail {' '.join(args)}: {out.stdout} {out.stderr}")
    return out.stdout


def proc_status(pid):
    """VmRSS and VmHWM in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p * len(s)) - 1))]


def node(name, site, region, key, extra="", log_level="info"):
    tx = Txmail(name=name, accounts="", node_settings=f'site = "{site}"\nregion = "r1"',
                extra=f'[cluster]\nnats = ["{region.url(site)}"]\nmaster_key_file = "{key}"\n{extra}')
    # The harness logs at debug level; a benchmark logs as production does.
    tx.config_text = tx.config_text.replace('level = "debug"', f'level = "{log_level}"')
    with open(tx.config, "w") as f:
        f.write(tx.config_text)
    return tx


class Client:
    """One keep-alive HTTP connection to a node's API, with the admin token."""

    def __init__(self, tx):
        self.conn = http.client.HTTPConnection("127.0.0.1", tx.ports["http"], timeout=30)
        self.auth = {"Authorization": "Bearer " + admin_token(tx)}

    def call(self, method, path, body=None, headers=None):
        headers = {**self.auth, **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        return r.status, r.read()


def log_time(line):
    """The UTC timestamp at the start of a txmail log line, as a Unix time."""
    stamp = line.split(" ", 1)[0].rstrip("Z")
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def timed_start(tx):
    """Starts a node; returns its start-up figures once /readyz answers 200."""
    ports_file = os.path.join(tx.data_dir, "ports")
    t0 = time.time()
    proc = subprocess.Popen([TXMAIL, "serve", "--config", tx.config], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(tx.dir, "stderr"), "ab"))
    tx.proc = proc
    t_ports = None
    deadline = t0 + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            fail(f"{tx.config}: txmail exited with {proc.returncode}: {tx.stderr()}")
        if os.path.exists(ports_file):
            t_ports = time.time()
            break
        time.sleep(0.005)
    else:
        fail("the node did not write its ports file within 600 s")
    tx.ports = {}
    with open(ports_file) as f:
        for line in f:
            _, mode, addr = line.split()
            tx.ports[mode] = int(addr.rsplit(":", 1)[1])
    t_ready = None
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", tx.ports["http"], timeout=5)
            c.request("GET", "/readyz")
            status = c.getresponse().status
            c.close()
            if status == 200:
                t_ready = time.time()
                break
        except OSError:
            pass
        time.sleep(0.005)
    else:
        fail("the node was not ready within 600 s")
    mem_ready = proc_status(proc.pid)
    cpu_ready = cpu_seconds(proc.pid)
    time.sleep(SETTLE)
    mem_settled = proc_status(proc.pid)
    cpu_settled = cpu_seconds(proc.pid)
    out = {"ports_s": t_ports - t0, "ready_s": t_ready - t0, "rss_ready_kb": mem_ready["VmRSS"],
           "rss_settled_kb": mem_settled["VmRSS"], "hwm_kb": mem_settled["VmHWM"],
           "cpu_to_ready_s": cpu_ready, "cpu_settle_s": cpu_settled - cpu_ready}
    # The log's view: when the configuration snapshot was complete, and when the node served.
    for line in tx.log_text().splitlines():
        if "cluster: configuration loaded" in line and "loaded_s" not in out:
            out["loaded_s"] = log_time(line) - t0
            out["loaded_line"] = line.split(" ", 2)[2]
        if " serving node=" in line and "serving_s" not in out:
            out["serving_s"] = log_time(line) - t0
    return out


def stop(tx):
    rc = tx.stop(timeout=60)
    if not KEEP:
        shutil.rmtree(tx.dir, ignore_errors=True)
    return rc


def describe_start(label, s):
    parts = [f"{label}: ports file {s['ports_s']:.2f} s, /readyz 200 {s['ready_s']:.2f} s"]
    if "loaded_s" in s:
        parts.append(f"snapshot loaded {s['loaded_s']:.2f} s ({s['loaded_line']})")
    if "serving_s" in s:
        parts.append(f"serving logged {s['serving_s']:.2f} s")
    parts.append(f"CPU to ready {s['cpu_to_ready_s']:.2f} s")
    parts.append(f"RSS ready {s['rss_ready_kb'] / 1024:.0f} MiB, after {SETTLE:.0f} s "
                 f"{s['rss_settled_kb'] / 1024:.0f} MiB (peak {s['hwm_kb'] / 1024:.0f} MiB), "
                 f"CPU in those {SETTLE:.0f} s {s['cpu_settle_s']:.2f} s")
    print("; ".join(parts), flush=True)


def bucket_state(region):
    """Messages and bytes of the config bucket's stream, from site a's monitoring port."""
    url = f"http://127.0.0.1:{region.monitor['a']}/jsz?accounts=true&streams=true"
    with urllib.request.urlopen(url, timeout=10) as r:
        z = json.loads(r.read())
    for acc in z.get("account_details", []):
        for s in acc.get("stream_detail", []):
            if s["name"] == "KV_txmail_config":
                return s["state"]["messages"], s["state"]["bytes"]
    return None, None


def nats_rss(region):
    return {s: proc_status(p.pid)["VmRSS"] for s, p in region.procs.items() if p.poll() is None}


def propagation(a, b):
    ca, cb = Client(a), Client(b)
    name = "bench-prop"
    status, body = ca.call("POST", "/v2/admin/accounts", {"name": name, "hourlyLimit": 0})
    check(status == 201, f"account at a: {status} {body}")
    wait_for("b to see the account", lambda: cb.call("GET", f"/v2/admin/accounts/{name}")[0] == 200)

    latencies, end_to_end, patch_ms, first_poll_hits, polls = [], [], [], 0, 0
    t_start = time.perf_counter()
    for i in range(1, CHANGES + 1):
        t_sent = time.perf_counter()
        status, body = ca.call("PATCH", f"/v2/admin/accounts/{name}", {"hourlyLimit": i})
        t_answer = time.perf_counter()
        check(status == 200, f"PATCH {i} at a: {status} {body}")
        patch_ms.append(1000 * (t_answer - t_sent))
        n = 0
        while True:
            status, body = cb.call("GET", f"/v2/admin/accounts/{name}")
            t_seen = time.perf_counter()
            n += 1
            check(status == 200, f"GET at b: {status} {body}")
            if json.loads(body).get("hourlyLimit") == i:
                break
            check(t_seen - t_answer < 30, f"change {i} not at b within 30 s")
        polls += n
        first_poll_hits += n == 1
        latencies.append(1000 * (t_seen - t_answer))
        end_to_end.append(1000 * (t_seen - t_sent))
    loop_s = time.perf_counter() - t_start
    # One poll's round trip when nothing changes: the resolution of the figures above.
    t = time.perf_counter()
    for _ in range(200):
        cb.call("GET", f"/v2/admin/accounts/{name}")
    poll_rtt_ms = 1000 * (time.perf_counter() - t) / 200

    # The burst: changes back to back at a, then when b shows the last one.
    t_burst = time.perf_counter()
    for i in range(CHANGES + 1, 2 * CHANGES + 1):
        status, body = ca.call("PATCH", f"/v2/admin/accounts/{name}", {"hourlyLimit": i})
        check(status == 200, f"PATCH {i} at a: {status} {body}")
    t_last = time.perf_counter()
    while json.loads(cb.call("GET", f"/v2/admin/accounts/{name}")[1]).get("hourlyLimit") != 2 * CHANGES:
        check(time.perf_counter() - t_last < 30, "b did not catch up with the burst within 30 s")
    t_caught = time.perf_counter()

    return {
        "p50": percentile(latencies, 0.50), "p90": percentile(latencies, 0.90),
        "p99": percentile(latencies, 0.99), "max": max(latencies), "min": min(latencies),
        "mean": statistics.mean(latencies), "e2e_p50": percentile(end_to_end, 0.5),
        "e2e_p99": percentile(end_to_end, 0.99), "e2e_max": max(end_to_end), "first_poll_hits": first_poll_hits, "polls": polls,
        "poll_rtt_ms": poll_rtt_ms, "patch_p50": percentile(patch_ms, 0.5),
        "patch_p99": percentile(patch_ms, 0.99), "patch_max": max(patch_ms),
        "loop_per_s": CHANGES / loop_s, "burst_per_s": CHANGES / (t_last - t_burst),
        "burst_lag_ms": 1000 * (t_caught - t_last)}


def main():
    check(os.path.exists(FILL), f"{FILL} is missing (cmake --build build --target cluster_config_fill)")
    print(f"machine: {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB; "
          f"three nats-servers ({subprocess.run(['nats-server', '--version'], capture_output=True, text=True).stdout.strip()}) "
          f"and the nodes on loopback; CHANGES={CHANGES} N={N}", flush=True)
    with NatsRegion() as region:
        key = os.path.join(region.dir, "cluster.key")
        run("cluster", "keygen", key)
        a = node("node-a", "a", region, key)
        b = node("node-b", "b", region, key)
        print(run("cluster", "init", "--config", a.config).strip(), flush=True)

        empty = node("node-e", "a", region, key)
        s = timed_start(empty)
        stop(empty)
        describe_start("start, empty bucket", s)
        results = {"empty": s}

        a.start()
        b.start()
        p = propagation(a, b)
        results["propagation"] = p
        print(f"propagation a -> b, {CHANGES} changes one at a time: p50 {p['p50']:.1f} ms, p90 {p['p90']:.1f} ms, "
              f"p99 {p['p99']:.1f} ms, max {p['max']:.1f} ms (min {p['min']:.1f}, mean {p['mean']:.1f}); "
              f"{p['first_poll_hits']} of {CHANGES} already at b's first poll; {p['polls']} polls; "
              f"a poll's round trip {p['poll_rtt_ms']:.2f} ms; from the PATCH sent at a to b showing it: "
              f"p50 {p['e2e_p50']:.1f} ms, p99 {p['e2e_p99']:.1f} ms, max {p['e2e_max']:.1f} ms", flush=True)
        print(f"PATCH at a: p50 {p['patch_p50']:.1f} ms, p99 {p['patch_p99']:.1f} ms, max {p['patch_max']:.1f} ms; "
              f"{p['loop_per_s']:.0f} changes/s with the wait for b; burst of {CHANGES} back to back: "
              f"{p['burst_per_s']:.0f} changes/s, b shows the last {p['burst_lag_ms']:.1f} ms after a's answer",
              flush=True)
        for tx in (a, b):
            stop(tx)

        fill = subprocess.run([FILL, "--nats", region.url("a"), "--master-key", key, "--accounts", str(N),
                               "--domains", str(N)], capture_output=True, text=True, timeout=3600)
        check(fill.returncode == 0, f"fill: {fill.stdout} {fill.stderr}")
        f = dict(kv.split("=", 1) for kv in fill.stdout.split())
        messages, size = bucket_state(region)
        results["fill"] = {**f, "stream_messages": messages, "stream_bytes": size}
        print(f"fill: {f['entries']} entries in {f['seconds']} s ({f['per_second']}/s); JSON: account "
              f"{int(f['account_bytes']) / N:.0f} B, domain {int(f['domain_bytes']) / N:.0f} B on average; "
              f"bucket stream {messages} messages, {size / 2**20:.0f} MiB per replica", flush=True)

        results["full"] = []
        for i in range(STARTS):
            c = node(f"node-c{i}", "a", region, key)
            s = timed_start(c)
            if i == STARTS - 1:
                # One account's sender domains (it has one) through the API, on the full bucket.
                client = Client(c)
                times = []
                for _ in range(3):
                    t = time.perf_counter()
                    status, body = client.call("GET", "/v2/domains", headers={"X-Txmail-Account": "fill000001"})
                    times.append(1000 * (time.perf_counter() - t))
                    check(status == 200 and b"d000001.fill.test" in body, f"GET /v2/domains: {status} {body[:300]}")
                s["domains_get_ms"] = times
                s["rss_after_get_kb"] = proc_status(c.proc.pid)["VmRSS"]
            stop(c)
            results["full"].append(s)
            describe_start(f"start {i + 1}, {N:,} accounts + {N:,} domains", s)
        get = results["full"][-1]
        print(f"GET /v2/domains of one account (1 domain of {N:,}): "
              + " / ".join(f"{t:.0f}" for t in get["domains_get_ms"])
              + f" ms; RSS after {get['rss_after_get_kb'] / 1024:.0f} MiB", flush=True)

        # The background domain verifier lists every domain each [dkim] verify_interval (10 min
        # by default): here every VERIFY_INTERVAL seconds, measured over VERIFY_WATCH seconds.
        v = node("node-v", "a", region, key, extra=f'[dkim]\nverify_interval = "{VERIFY_INTERVAL}s"\n')
        s = timed_start(v)
        cpu0 = cpu_seconds(v.proc.pid)
        time.sleep(VERIFY_WATCH)
        s["verify_cpu_s"] = cpu_seconds(v.proc.pid) - cpu0
        s["verify_passes"] = VERIFY_WATCH / VERIFY_INTERVAL  # the timer starts as the node gets ready
        mem = proc_status(v.proc.pid)
        s["verify_rss_kb"], s["verify_hwm_kb"] = mem["VmRSS"], mem["VmHWM"]
        stop(v)
        results["verifier"] = s
        print(f"verifier every {VERIFY_INTERVAL} s on {N:,} domains: {s['verify_cpu_s']:.2f} s CPU in {VERIFY_WATCH:.0f} s "
              f"(about {s['verify_cpu_s'] / s['verify_passes']:.2f} s a pass); RSS at ready {s['rss_ready_kb'] / 1024:.0f} MiB, "
              f"after {s['verify_rss_kb'] / 1024:.0f} MiB (peak {s['verify_hwm_kb'] / 1024:.0f} MiB)", flush=True)
        results["nats_rss_kb"] = nats_rss(region)
        print("nats-server RSS: " + ", ".join(f"{k} {v / 1024:.0f} MiB" for k, v in results["nats_rss_kb"].items()),
              flush=True)

        e = results["empty"]
        print("\nsummary")
        print(f"{'':34} {'ports':>8} {'ready':>8} {'RSS ready':>10} {'RSS +' + str(int(SETTLE)) + 's':>10}")
        rows = [("empty bucket", e)] + [(f"{N:,} accounts + {N:,} domains", s) for s in results["full"]]
        for label, s in rows:
            print(f"{label:34} {s['ports_s']:7.2f}s {s['ready_s']:7.2f}s {s['rss_ready_kb'] / 1024:8.0f} MiB"
                  f" {s['rss_settled_kb'] / 1024:6.0f} MiB")
        vs = results["verifier"]
        print(f"{'the same, verifier passes run':34} {'':8} {'':8} {'':10} {vs['verify_rss_kb'] / 1024:6.0f} MiB")
        print(f"propagation p50 / p99 / max: {p['p50']:.1f} / {p['p99']:.1f} / {p['max']:.1f} ms")
        out = os.environ.get("RESULTS")
        if out:
            with open(out, "w") as fjson:
                json.dump(results, fjson, indent=1)
        if KEEP:
            print(f"kept: {region.dir}")
            region.stop()
            sys.exit(0)


if __name__ == "__main__":
    main()
