"""Replicated spool benchmark (issue site-2), run by bench/cluster_relay.sh.

1. Throughput and acceptance latency, embedded against cluster, in the same run. For each
   message size (10 KiB and 100 KiB), RUNS times: `smtp-source -s 20 -m N -l SIZE` into
   - an embedded node (no [cluster] section), and
   - node a of a region on loopback (tests/lib/txmail_harness.py NatsRegion: three
     nats-servers, sites a and b and the witness w; `txmail cluster keygen`, `cluster init`;
     one txmail node, at site a, `[cluster] sites = ["a", "b"]`).
   Both take the mail on their relay listener (smtp-source cannot choose its source address,
   so the account allow-lists 127.0.0.0/8, as bench/relay.sh does) and relay every recipient
   ([[delivery.route]] domain "*") to one Postfix smtp-sink with up to 20 connections, TLS off.
   The order of the two alternates from run to run. Each node is started for the measurement
   and is ready (/readyz 200; for the cluster node also its site's spool stream led from its
   own site, the steady state) before smtp-source starts; it is stopped (SIGTERM) once the
   sink has counted every message and its queue is empty.
   Reported per measurement: accepted msg/s (N / the wall time of smtp-source), end-to-end
   msg/s (until the sink has counted all N), the acceptance latency p50 / p99 (end of the
   message data to the 250, i.e. to the local sync and, in cluster mode, the region's ack)
   from the line the node logs at SIGTERM: "stopped: spool records=... syncs=...
   ack_latency_us p50=X p99=Y count=Z", and CPU time per message of the node and (cluster)
   of the three nats-servers together, over the whole measurement. Then per size the ratio
   cluster / embedded of the accepted msg/s (medians over the runs; target >= 70%).

2. Soak (--soak SECONDS): a second region, node-a (site a) and node-b (site b) with
   node_timeout 6 s and quorum_grace 12 s, each under tests/lib/cluster_load.Load (2 SMTP
   clients and 1 REST client per node, 5 msg/s each), delivering to the harness Sink (0.2 s a
   message, up to 4 connections from each node: a few messages are always in flight). The soak
   is SECONDS // 120 periods of 120 s (at least one). In each, SOAK_KILL_AT seconds in, one
   whole site is killed, alternating a, b, a, ...: the load to its node is paused
   (load.pause), its nats-server and its node get kill -9; SOAK_DOWN seconds later the site
   comes back (region.start, region.wait_ready, node.start, /readyz 200, load.resume). Before
   each kill the region is whole again (each spool stream has a leader and two current
   followers). Per period: what the killed node had acknowledged (how much of it was not yet
   at the sink, how many jobs it had queued just before the kill), the time until all of it
   was at the sink (the other node took the spool over), the restart's time to ready, and the
   surviving node's longest time between two acknowledgements. At the end the load stops,
   every acknowledged message is waited for at the sink (up to 180 s; tests/lib/cluster_load
   Ledger), and acknowledged, delivered, lost and duplicates are printed: exit 1 if lost > 0.

Environment: TXMAIL_BIN (build/txmail), N10 (2000 messages of 10 KiB), N100 (1000 of 100 KiB),
RUNS (2), SOAK_DOWN (30), SOAK_KILL_AT (20), RESULTS (a file for the figures as JSON), KEEP=1
keeps the scratch files.
Usage: /usr/bin/python3 bench/cluster_relay.py [--soak SECONDS] [--skip-throughput]
       (PYTHONPATH=tests/lib)
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

from txmail_harness import NatsRegion, Sink, Txmail, check, fail, free_port, http, metric, wait_for
from cluster_load import Ledger, Load

TXMAIL = os.environ.get("TXMAIL_BIN", "build/txmail")
SIZES = [(10 * 1024, int(os.environ.get("N10", "2000"))), (100 * 1024, int(os.environ.get("N100", "1000")))]
RUNS = int(os.environ.get("RUNS", "2"))
SESSIONS = 20
TARGET = 0.70          # cluster accepted msg/s as a fraction of embedded's
PERIOD = 120           # soak: one site killed and restarted every PERIOD seconds
KILL_AT = float(os.environ.get("SOAK_KILL_AT", "20"))   # soak: seconds into a period
DOWN = float(os.environ.get("SOAK_DOWN", "30"))         # soak: seconds a killed site stays down
KEEP = os.environ.get("KEEP") == "1"
STOPPED = re.compile(r"stopped: spool records=(\d+) syncs=(\d+) ack_latency_us p50=(\d+) p99=(\d+) count=(\d+)")


# --- helpers -----------------------------------------------------------------------------------

def run(*args, timeout=120):
    out = subprocess.run([TXMAIL, *args], capture_output=True, text=True, timeout=timeout)
    check(out.returncode == 0, f"txmail {' '.join(args)}: {out.stdout} {out.stderr}")
    return out.stdout


def cpu_seconds(pid):
    """utime + stime of a live process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def poll(what, predicate, timeout, interval=0.01):
    """wait_for with a finer step: the end-to-end time is read off this loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    fail(f"timed out waiting for {what}")


def sleep_until(t):
    """Paces the soak's schedule (never a wait for a condition)."""
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)


def ready(tx):
    try:
        return http(tx, "GET", "/readyz").status == 200
    except OSError:
        return False


def cluster_section(region, site, key):
    """[cluster] of a node at `site`: only its own site's server listed, as in the e2e tests."""
    return (f'[cluster]\nnats = ["{region.url(site)}"]\nmaster_key_file = "{key}"\n'
            f'quorum_grace = "12s"\ntimeout = "2s"\npublish_timeout = "10s"\n'
            f'node_timeout = "6s"\nsites = ["a", "b"]\n')


def make_node(name, delivery, accounts=None, node_settings="", extra="", smtp_settings=""):
    tx = Txmail(name=name, accounts=accounts, delivery=delivery, node_settings=node_settings, extra=extra,
                smtp_settings=smtp_settings)
    # The harness logs at debug level; a benchmark logs as production does.
    tx.config_text = tx.config_text.replace('level = "debug"', 'level = "info"')
    with open(tx.config, "w") as f:
        f.write(tx.config_text)
    return tx


def spool_streams(region):
    """{stream: (leader, [(replica, current)])} of the TXMAIL_SPOOL_* streams, each as its
    leader sees it (only a stream's leader knows whether its followers are current): every
    running server is asked, and a stream without a leader is missing."""
    out = {}
    for site, proc in region.procs.items():
        if proc.poll() is not None:
            continue
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{region.monitor[site]}/jsz?accounts=true&streams=true",
                                        timeout=5) as r:
                z = json.loads(r.read())
        except OSError:
            continue
        for account in z.get("account_details", []):
            for s in account.get("stream_detail", []):
                c = s.get("cluster") or {}
                if s["name"].startswith("TXMAIL_SPOOL_") and c.get("leader") == site.upper():  # server_name
                    out[s["name"]] = (c["leader"], [(r["name"], r.get("current")) for r in c.get("replicas") or []])
    return out


def leaders(region):
    return {name: leader for name, (leader, _) in spool_streams(region).items()}


def region_whole(region):
    """Both spool streams have a leader and two current followers."""
    streams = spool_streams(region)
    return len(streams) == 2 and all(len(reps) == 2 and all(cur for _, cur in reps) for _, reps in streams.values())


# --- (1) throughput and acceptance latency -------------------------------------------------------

class SmtpSink:
    """Postfix smtp-sink on 127.0.0.1:PORT. Its running counters (-c) go to a file; count()
    reads the file's last bytes (no process forked per poll)."""

    def __init__(self, directory):
        self.port = free_port()
        self.out = os.path.join(directory, "smtp-sink.out")
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen(["smtp-sink", *user, "-c", f"127.0.0.1:{self.port}", "1024"],
                                     stdout=open(self.out, "wb"), stderr=subprocess.STDOUT)
        wait_for("smtp-sink to listen", self._listening, timeout=10)

    def _listening(self):
        check(self.proc.poll() is None, f"smtp-sink exited: {open(self.out).read()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def count(self):
        with open(self.out, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 300))
            found = re.findall(rb"mesg=(\d+)", f.read())
        return int(found[-1]) if found else 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


def measure(tx, mode, size, n, sink, region=None):
    """One smtp-source run against `tx` (started here, stopped at the end)."""
    os.sync()  # the previous run's dirty pages (hundreds of MiB at 100 KiB) written back first
    tx.start(timeout=60)
    wait_for(f"{mode} node ready", lambda: ready(tx), timeout=60)
    if region:
        # The steady state: the node's own site's stream is led from its own site (the node
        # moves it there; up to a minute after a cold start).
        wait_for("TXMAIL_SPOOL_a led from site a", lambda: leaders(region).get("TXMAIL_SPOOL_a") == "A",
                 timeout=120)
    lines_before = len(STOPPED.findall(tx.log_text()))
    base = sink.count()
    nats = [p.pid for p in region.procs.values()] if region else []
    cpu0, nats0 = cpu_seconds(tx.proc.pid), sum(cpu_seconds(p) for p in nats)

    t0 = time.perf_counter()
    src = subprocess.run(["smtp-source", "-s", str(SESSIONS), "-m", str(n), "-l", str(size),
                          "-f", "bench@example.com", "-t", "rcpt@example.net", f"127.0.0.1:{tx.ports['relay']}"],
                         capture_output=True, text=True, timeout=3600)
    t_accepted = time.perf_counter()
    poll(f"{n} messages at the sink", lambda: sink.count() - base >= n, timeout=600)
    t_delivered = time.perf_counter()
    cpu = cpu_seconds(tx.proc.pid) - cpu0
    nats_cpu = sum(cpu_seconds(p) for p in nats) - nats0

    # Nothing left to deliver or to remove from the stream before the node is stopped.
    def idle():
        if metric(tx, "txmail_queue_jobs") != 0:
            return False
        return not region or (metric(tx, "txmail_cluster_stream_pending") == 0
                              and metric(tx, "txmail_cluster_local_only_jobs") == 0)
    wait_for(f"{mode} node idle", idle, timeout=120)
    check(tx.stop(timeout=120) == 0, f"the {mode} node did not stop cleanly: {tx.stderr()[-2000:]}")
    found = STOPPED.findall(tx.log_text())
    check(len(found) > lines_before, f"no 'stopped: ... ack_latency_us' line in {tx.log}")
    records, syncs, p50, p99, count = (int(x) for x in found[-1])
    if src.returncode != 0 or src.stdout.strip() or src.stderr.strip() or count != n:
        print(f"  warning: smtp-source exit {src.returncode}, {count} of {n} acknowledged: "
              f"{(src.stdout + src.stderr).strip()[:500]}", flush=True)
    return {"mode": mode, "size": size, "n": n, "acked": count, "accepted_s": t_accepted - t0,
            "accepted_per_s": n / (t_accepted - t0), "end_to_end_per_s": n / (t_delivered - t0),
            "ack_p50_us": p50, "ack_p99_us": p99, "spool_records": records, "spool_syncs": syncs,
            "node_cpu_ms_per_msg": 1000 * cpu / n, "nats_cpu_ms_per_msg": 1000 * nats_cpu / n if region else None}


def describe(r):
    nats = f", NATS {r['nats_cpu_ms_per_msg']:.2f} ms CPU/msg" if r["nats_cpu_ms_per_msg"] is not None else ""
    print(f"  {r['size'] // 1024:>3} KiB {r['mode']:<8} {r['n']} msgs: accepted {r['accepted_per_s']:6.0f}/s "
          f"({r['accepted_s']:.2f} s), end-to-end {r['end_to_end_per_s']:6.0f}/s, ack p50 "
          f"{r['ack_p50_us'] / 1000:.2f} ms p99 {r['ack_p99_us'] / 1000:.2f} ms, "
          f"node {r['node_cpu_ms_per_msg']:.2f} ms CPU/msg{nats}; "
          f"spool records {r['spool_records']}, syncs {r['spool_syncs']}", flush=True)


def throughput():
    scratch = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"txmail-cluster-relay-{os.getpid()}")
    os.makedirs(scratch)
    sink = SmtpSink(scratch)
    delivery = (f'tls = "disabled"\nmax_connections_per_site = {SESSIONS}\nmax_messages_per_connection = 10000\n'
                f'idle_connection = "1s"\n[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.1:{sink.port}"\n')
    # smtp-source connects from 127.0.0.1 (it cannot bind another source): as bench/relay.sh.
    accounts = ('[[account]]\nname = "bench"\npassword = "bench-password"\nallow_ips = ["127.0.0.0/8"]\n'
                'allow_unverified_domains = true\nhourly_limit = 0  # throughput, not the hourly limit\n')
    smtp = "max_connections_per_ip = 200"
    results = []
    nodes = []
    try:
        with NatsRegion() as region:
            key = os.path.join(region.dir, "cluster.key")
            run("cluster", "keygen", key)
            embedded = make_node("bench.txmail.test", delivery, accounts, smtp_settings=smtp)
            cluster = make_node("node-a", delivery, accounts, node_settings='site = "a"\nregion = "r1"',
                                extra=cluster_section(region, "a", key), smtp_settings=smtp)
            nodes = [embedded, cluster]
            print(run("cluster", "init", "--config", cluster.config).strip(), flush=True)
            for i in range(RUNS):
                for size, n in SIZES:
                    # The order alternates from run to run: neither always goes first.
                    pair = [("embedded", embedded, None), ("cluster", cluster, region)]
                    for mode, tx, reg in (pair if i % 2 == 0 else pair[::-1]):
                        r = measure(tx, mode, size, n, sink, reg)
                        r["run"] = i + 1
                        describe(r)
                        results.append(r)
            summary = summarize(results)
    finally:
        for tx in nodes:
            if tx.proc and tx.proc.poll() is None:
                tx.stop(timeout=60)
        sink.stop()
    if not KEEP:
        for tx in nodes:
            shutil.rmtree(tx.dir, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    else:
        print(f"kept: {scratch} " + " ".join(tx.dir for tx in nodes))
    return {"runs": results, "summary": summary}


def summarize(results):
    print(f"\nsummary (medians of {RUNS} run(s); smtp-source -s {SESSIONS}; ack = end of data to 250)")
    print(f"{'size':>7} {'mode':<9} {'N':>5} {'accepted/s':>11} {'spread':>11} {'e2e/s':>7} {'ack p50':>9} "
          f"{'ack p99':>9} {'node CPU':>9} {'NATS CPU':>9}")
    summary = []
    for size, n in SIZES:
        row = {"size": size, "n": n}
        for mode in ("embedded", "cluster"):
            rs = [r for r in results if r["size"] == size and r["mode"] == mode]
            acc = [r["accepted_per_s"] for r in rs]
            med = {k: statistics.median(r[k] for r in rs) for k in
                   ("accepted_per_s", "end_to_end_per_s", "ack_p50_us", "ack_p99_us", "node_cpu_ms_per_msg")}
            med["nats_cpu_ms_per_msg"] = (statistics.median(r["nats_cpu_ms_per_msg"] for r in rs)
                                          if mode == "cluster" else None)
            row[mode] = med
            nats = f"{med['nats_cpu_ms_per_msg']:7.2f}ms" if med["nats_cpu_ms_per_msg"] is not None else f"{'-':>9}"
            print(f"{size // 1024:>3} KiB {mode:<9} {n:>5} {med['accepted_per_s']:11.0f} "
                  f"{min(acc):5.0f}-{max(acc):<5.0f} {med['end_to_end_per_s']:7.0f} {med['ack_p50_us'] / 1000:7.2f}ms "
                  f"{med['ack_p99_us'] / 1000:7.2f}ms {med['node_cpu_ms_per_msg']:7.2f}ms {nats}")
        row["ratio"] = row["cluster"]["accepted_per_s"] / row["embedded"]["accepted_per_s"]
        summary.append(row)
    for row in summary:
        verdict = "met" if row["ratio"] >= TARGET else "NOT met"
        print(f"{row['size'] // 1024:>3} KiB: cluster / embedded accepted msg/s = {100 * row['ratio']:.0f}% "
              f"(target >= {100 * TARGET:.0f}%: {verdict}); ack p50 {row['embedded']['ack_p50_us'] / 1000:.2f} -> "
              f"{row['cluster']['ack_p50_us'] / 1000:.2f} ms, p99 {row['embedded']['ack_p99_us'] / 1000:.2f} -> "
              f"{row['cluster']['ack_p99_us'] / 1000:.2f} ms", flush=True)
    return summary


# --- (2) soak: whole sites killed and restarted under load ----------------------------------------

def soak(seconds):
    periods = max(1, int(seconds // PERIOD))
    check(KILL_AT + DOWN < PERIOD, "SOAK_KILL_AT + SOAK_DOWN must stay under a period (120 s)")
    print(f"\nsoak: {periods} period(s) of {PERIOD} s; in each a whole site killed {KILL_AT:.0f} s in, "
          f"back {DOWN:.0f} s later (node_timeout 6 s, quorum_grace 12 s)", flush=True)
    # The sink answers each message after 0.2 s (an MX across the Internet) and a node opens up
    # to 4 connections to it: about 20 msg/s for the 15 msg/s of each node's load, so a few
    # acknowledged messages are always on their way when a site is killed.
    sink = Sink("127.0.0.51", free_port(), delay=0.2)
    delivery = (f'mx_port = {sink.port}\nidle_connection = "200ms"\nretry_schedule = ["1s"]\nretry_every = "1s"\n'
                f'max_connections_per_site = 4\n'
                f'[[delivery.route]]\ndomain = "*"\nrelay = "127.0.0.51:{sink.port}"\n')
    nodes, load, ok = [], None, False
    cycles = []
    try:
        with NatsRegion() as region:
            key = os.path.join(region.dir, "cluster.key")
            run("cluster", "keygen", key)
            # The harness's accounts: alice (REST) and relayer (SMTP from ALLOWED_IP), as Load uses.
            a = make_node("node-a", delivery, node_settings='site = "a"\nregion = "r1"',
                          extra=cluster_section(region, "a", key))
            b = make_node("node-b", delivery, node_settings='site = "b"\nregion = "r1"',
                          extra=cluster_section(region, "b", key))
            nodes = [a, b]
            run("cluster", "init", "--config", a.config)
            for tx in nodes:
                tx.start(timeout=60)
            for tx in nodes:
                wait_for(f"{tx.name} ready", lambda: ready(tx), timeout=60)
            wait_for("each spool stream led from its own site", lambda: leaders(region) == {
                "TXMAIL_SPOOL_a": "A", "TXMAIL_SPOOL_b": "B"}, timeout=120)
            ledger = Ledger(sink)
            load = Load(nodes).start()
            t0 = time.monotonic()
            for i in range(periods):
                site = "ab"[i % 2]
                tx, other = (a, b) if site == "a" else (b, a)
                sleep_until(t0 + i * PERIOD + KILL_AT)
                # A single site's loss, not a second failure on top of the last: the region is whole.
                wait_for("the region whole (each spool stream with a leader and two current followers)",
                         lambda: region_whole(region), timeout=90)
                lead = leaders(region)

                queued = metric(tx, "txmail_queue_jobs")  # just before the kill
                load.pause(tx)
                killed = time.monotonic()
                region.kill(site)
                tx.kill9()
                acked_killed = load.acked_by(tx.name, before=killed)
                pending = len(ledger.missing(acked_killed))  # what the other node has to deliver
                # The other node takes the spool over and delivers it: watched while the site is down.
                taken = None
                while time.monotonic() < killed + DOWN:
                    if taken is None and not ledger.missing(acked_killed):
                        taken = time.monotonic() - killed
                    time.sleep(0.5)

                back = time.monotonic()
                region.start(site)
                region.wait_ready()
                tx.start(timeout=60)
                wait_for(f"{tx.name} ready after the restart", lambda: ready(tx), timeout=90)
                ready_s = time.monotonic() - back
                load.resume(tx)
                if taken is None:  # not within the down time: measured now
                    wait_for(f"{tx.name}'s acknowledged messages at the sink", lambda: not ledger.missing(acked_killed),
                             timeout=120)
                    taken = time.monotonic() - killed
                c = {"period": i + 1, "site": site, "leaders_before": lead, "acked_by_killed": len(acked_killed),
                     "queued_at_kill": queued, "undelivered_at_kill": pending,
                     "kill_to_all_delivered_s": taken, "restart_to_ready_s": ready_s,
                     "survivor_longest_gap_s": load.longest_gap(other.name, since=killed - 1, until=time.monotonic()),
                     "acked_so_far": len(load.acked), "refused_so_far": len(load.refused)}
                cycles.append(c)
                print(f"  period {i + 1}: site {site} killed (leaders {lead}); its {len(acked_killed)} acknowledged "
                      f"({pending} not yet at the sink, {queued:.0f} jobs queued just before) all at the sink "
                      f"{taken:.1f} s after the kill; back and ready {ready_s:.1f} s after the "
                      f"restart; {other.name}'s longest acceptance gap {c['survivor_longest_gap_s']:.2f} s; "
                      f"so far acknowledged {c['acked_so_far']}, refused {c['refused_so_far']}", flush=True)
            sleep_until(t0 + periods * PERIOD)
            load.stop()
            everything = dict(load.acked)
            deadline = time.monotonic() + 180
            while ledger.missing(everything) and time.monotonic() < deadline:
                time.sleep(0.5)
            lost = ledger.missing(everything)
            duplicates = ledger.duplicates()
            counts = ledger.refresh()
            delivered = sum(1 for s in everything if counts.get(s))
            refused = {}
            for node_name, _, _, _ in load.refused:
                refused[node_name] = refused.get(node_name, 0) + 1
            out = {"seconds": periods * PERIOD, "periods": cycles, "acknowledged": len(everything),
                   "acknowledged_by": {tx.name: len(load.acked_by(tx.name)) for tx in nodes},
                   "delivered": delivered, "lost": len(lost), "lost_sample": lost[:10],
                   "duplicates": len(duplicates), "sink_messages": sum(counts.values()), "refused": refused}
            by_node = ", ".join(f"{k} {v}" for k, v in out["acknowledged_by"].items())
            print(f"soak: acknowledged {out['acknowledged']} ({by_node}), "
                  f"delivered {delivered}, lost {len(lost)}, duplicates {len(duplicates)} "
                  f"(the sink received {out['sink_messages']}); refused while a site was down or starting: "
                  f"{refused or 0}", flush=True)
            if lost:
                print(f"lost: {lost[:10]}", flush=True)
            for tx in nodes:
                tx.stop(timeout=60)
            ok = True
    finally:
        if load:
            load.stopping.set()
        for tx in nodes:
            if tx.proc and tx.proc.poll() is None:
                tx.stop(timeout=60)
        sink.stop()
        if not KEEP and ok:
            for tx in nodes:
                shutil.rmtree(tx.dir, ignore_errors=True)
        elif nodes:
            print("soak files kept: " + " ".join(tx.dir for tx in nodes), file=sys.stderr)
    return out


def main():
    parser = argparse.ArgumentParser(description="replicated spool benchmark (issue site-2)")
    parser.add_argument("--soak", type=int, default=0, metavar="SECONDS",
                        help="also run the soak (periods of 120 s, a whole site killed in each)")
    parser.add_argument("--skip-throughput", action="store_true", help="only the soak")
    args = parser.parse_args()
    nats_version = subprocess.run(["nats-server", "--version"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, load average "
          f"{os.getloadavg()[0]:.2f}; {nats_version}, three servers and the node on loopback", flush=True)
    results = {}
    if not args.skip_throughput:
        print(f"load: smtp-source -s {SESSIONS}, " + ", ".join(f"{n} x {s // 1024} KiB" for s, n in SIZES)
              + f", {RUNS} run(s); relayed to smtp-sink", flush=True)
        results["throughput"] = throughput()
    if args.soak:
        results["soak"] = soak(args.soak)
    out = os.environ.get("RESULTS")
    if out:
        with open(out, "w") as f:
            json.dump(results, f, indent=1)
    if args.soak and results["soak"]["lost"] > 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
