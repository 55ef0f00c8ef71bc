"""Delivery to many destinations (issue deliver-2), run by bench/destinations.sh.

One nsd serves a zone where every dN.many.test has its own MX host (mx.dN.many.test, 127.0.0.1),
so each domain is a destination site of its own; Postfix's smtp-sink accepts everything. The
messages go in as REST jobs of 1,000 one-recipient blocks (delivery running), and a run ends
when the node's queue is empty. Three runs of N messages each, the same node build:
  one      every message to one domain (one destination: the relay rate of this set-up),
  distinct every message to a domain of its own (N destinations),
  tenfold  N/10 domains, 10 messages each.
Then memory: N messages to N distinct domains with one connection slot whose only connection
is held in DATA by smtp-sink -w, so every other destination waits in a ready queue, against the
same N messages with delivery paused (no ready queue at all): the difference divided by N is
the memory of a queued destination beyond its message. Resident memory is also read before
loading (idle) and after the queue drained.

Usage: /usr/bin/python3 bench/destinations.py TXMAIL N
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TXMAIL, N = sys.argv[1], int(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="txmail-destinations-")
PROCS = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_nsd(domains):
    port = free_port()
    d = os.path.join(WORK, "nsd")
    os.makedirs(d)
    zone = os.path.join(d, "many.test.zone")
    with open(zone, "w") as f:
        f.write("$ORIGIN many.test.\n$TTL 3600\n@ IN SOA ns.many.test. admin.many.test. 1 3600 600 86400 3600\n"
                "@ IN NS ns.many.test.\nns IN A 127.0.0.1\none IN MX 10 mx.one.many.test.\nmx.one IN A 127.0.0.1\n")
        for i in range(domains):
            f.write(f"d{i} IN MX 10 mx.d{i}.many.test.\nmx.d{i} IN A 127.0.0.1\n")
    conf = os.path.join(d, "nsd.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  username: ""
  chroot: ""
  zonesdir: "{d}"
  database: ""
  pidfile: "{d}/nsd.pid"
  xfrdfile: "{d}/xfrd.state"
  zonelistfile: "{d}/zone.list"
  xfrdir: "{d}"
  logfile: "{d}/nsd.log"
  server-count: 1
  verbosity: 0
  # NSD limits responses to 200 a second per client network by default (RRL): every
  # query here comes from 127.0.0.1.
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: many.test
  zonefile: "{zone}"
""")
    p = subprocess.Popen(["nsd", "-d", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(p)
    deadline = time.time() + 120
    while time.time() < deadline:
        out = subprocess.run(["/usr/bin/python3", "-c", f"""
import dns.resolver
r = dns.resolver.Resolver(configure=False); r.nameservers = ["127.0.0.1"]; r.port = {port}
print(r.resolve("d0.many.test", "MX")[0])"""], capture_output=True, text=True)
        if out.returncode == 0:
            return port
        time.sleep(0.5)
    sys.exit("nsd did not answer")


def start_sink(extra=()):
    port = free_port()
    p = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", "nobody", *extra, f"127.0.0.1:{port}", "1024"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROCS.append(p)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    sys.exit("smtp-sink did not start")


class Node:
    def __init__(self, name, dns_port, mx_port, delivery=""):
        self.dir = os.path.join(WORK, name)
        os.makedirs(self.dir)
        conf = os.path.join(self.dir, "txmail.toml")
        with open(conf, "w") as f:
            f.write(f"""[node]
name = "bench.txmail.test"
data_dir = "{self.dir}/data"
[log]
level = "{os.environ.get('LOG', 'warn')}"
file = "{self.dir}/txmail.log"
[http]
listen = "127.0.0.1:0"
max_body = 20000000
[api]
hourly_limit = 0
max_job_size = 100000000
[dns]
servers = ["127.0.0.1:{dns_port}"]
[delivery]
mx_port = {mx_port}
tls = "disabled"
{delivery}
[[account]]
name = "bench"
password = "bench-password"
allow_unverified_domains = true
""")
        self.proc = subprocess.Popen([TXMAIL, "serve", "--config", conf], stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(self.dir, "stderr"), "w"))
        ports = os.path.join(self.dir, "data", "ports")
        for _ in range(400):
            if os.path.exists(ports):
                break
            time.sleep(0.05)
        with open(ports) as f:
            self.port = next(int(l.split()[2].rsplit(":", 1)[1]) for l in f if l.split()[:2] == ["http", "http"])
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def post(self, recipients):
        body = json.dumps({"subject": {"content": "Your receipt"},
                           "body": {"contentType": "text/plain", "content": "Thank you for your order. " * 20},
                           "mail": {"from": {"email": "Shop <receipts@shop.example>"}},
                           "recipients": [{"mail": {"to": [{"email": r}]}} for r in recipients]})
        self.conn.request("POST", "/v2/jobs", body, {"Content-Type": "application/json",
                                                    "Authorization": "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ="})
        res = self.conn.getresponse()
        text = res.read()
        if res.status != 202:
            sys.exit(f"job refused: {res.status} {text[:300]}")

    def gauge(self, name):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def delivered(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
        c.close()
        return sum(float(l.split()[1]) for l in text.splitlines()
                   if l.startswith("txmail_events_total{") and 'type="DELIVERED"' in l)

    def load(self, recipients):
        for i in range(0, len(recipients), 1000):
            self.post(recipients[i:i + 1000])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_until(predicate, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def throughput(name, recipients, dns_port, sink_port):
    node = Node(name, dns_port, sink_port)
    idle = rss_kb(node.proc.pid)
    start = time.time()
    node.load(recipients)
    loaded = time.time() - start
    peak = 0

    def drained():
        nonlocal peak
        peak = max(peak, rss_kb(node.proc.pid))
        return node.gauge("txmail_queue_jobs") == 0

    ok = wait_until(drained, 1800)
    took = time.time() - start
    time.sleep(5)  # the spool flushes its memtables once the queue has drained
    after = rss_kb(node.proc.pid)
    delivered = node.delivered()
    node.stop()
    print(f"{name:9s} {len(recipients):7d} messages to {len(set(r.split('@')[1] for r in recipients)):7d} domains: "
          f"{len(recipients) / took:7.0f} msg/s end to end ({took:.1f}s, loading {loaded:.1f}s, "
          f"{delivered:.0f} DELIVERED){'' if ok else ' NOT DRAINED'}; "
          f"RSS idle {idle // 1024} MiB, peak {peak // 1024} MiB, after drain {after // 1024} MiB "
          f"({(after - idle) * 1024 / len(recipients):.0f} B per message above idle)")
    return len(recipients) / took


def memory(dns_port):
    recipients = [f"user@d{i}.many.test" for i in range(N)]
    # Paused: the messages are queued, no destination exists.
    node = Node("paused", dns_port, 25, "paused = true")
    node.load(recipients)
    time.sleep(3)
    paused = rss_kb(node.proc.pid)
    node.stop()
    # Held: one slot, its connection held in DATA; every other destination waits for it.
    _, held_port = start_sink(["-w", "3600"])
    node = Node("held", dns_port, held_port, "max_connections_per_source = 1")
    node.load(recipients)
    ok = wait_until(lambda: node.gauge("txmail_queue_ready_units") >= N - 1, 600)
    time.sleep(3)
    held = rss_kb(node.proc.pid)
    dests = node.gauge("txmail_queue_destinations")
    units = node.gauge("txmail_queue_ready_units")
    node.stop()
    print(f"memory   {N} destinations waiting ({dests:.0f} ready queues, {units:.0f} units waiting"
          f"{'' if ok else ', NOT ALL ROUTED'}): RSS {held // 1024} MiB vs {paused // 1024} MiB with the same "
          f"messages paused: {(held - paused) * 1024 / N:.0f} bytes per queued destination (ready queue, routing, "
          f"DNS cache entries)")


def main():
    try:
        dns_port = start_nsd(N)
        _, sink_port = start_sink()
        print(f"machine: {os.cpu_count()} cores; N={N}; smtp-sink, nsd, REST jobs of 1,000 one-recipient blocks")
        if os.environ.get("ONLY") == "distinct":
            throughput("distinct", [f"user@d{i}.many.test" for i in range(N)], dns_port, sink_port)
            return
        if os.environ.get("ONLY") == "memory":
            memory(dns_port)
            return
        if os.environ.get("ONLY") == "tenfold":
            throughput("tenfold", [f"u{k}@d{i}.many.test" for i in range(N // 10) for k in range(10)],
                       dns_port, sink_port)
            return
        one = throughput("one", [f"u{i}@one.many.test" for i in range(N)], dns_port, sink_port)
        distinct = throughput("distinct", [f"user@d{i}.many.test" for i in range(N)], dns_port, sink_port)
        tenfold = throughput("tenfold", [f"u{k}@d{i}.many.test" for i in range(N // 10) for k in range(10)],
                             dns_port, sink_port)
        print(f"ratio to one destination: distinct {distinct / one:.2f}, tenfold {tenfold / one:.2f}")
        memory(dns_port)
    finally:
        for p in PROCS:
            p.terminate()
        for p in PROCS:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if not os.environ.get("KEEP"):
            shutil.rmtree(WORK, ignore_errors=True)


main()
