"""Push notifications beside a hanging endpoint (issue hooks-2), run by `ISOLATION=1
bench/webhooks.sh`. Ten endpoints (request paths of one local receiver, each a lane of its
own) share JOBS jobs of RCPTS recipients round-robin, through the jobs' own notification
URLs; delivery is paused, so each recipient makes two events. Two runs on fresh nodes, the
same load: all ten endpoints healthy, then the tenth one hanging (it accepts connections and
never answers). Reports events/s delivered to the healthy nine in each run (from the first job
to the last of their notifications) and the ratio.

Usage: /usr/bin/python3 bench/webhooks_isolation.py TXMAIL JOBS RCPTS"""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TXMAIL, JOBS, RCPTS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
HERE = os.path.dirname(os.path.abspath(__file__))
WORK = tempfile.mkdtemp(prefix="txmail-webhooks-isolation-")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def silent(port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    held = []

    def run():
        while True:
            try:
                held.append(sock.accept()[0])
            except OSError:
                return
    threading.Thread(target=run, daemon=True).start()
    return sock


def run(name, hang):
    d = os.path.join(WORK, name)
    os.makedirs(d)
    sink_port, hang_port = free_port(), free_port()
    sink = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "webhook_sink.py"), str(sink_port),
                             os.path.join(d, "sink.json")])
    hanging = silent(hang_port) if hang else None
    conf = os.path.join(d, "txmail.toml")
    with open(conf, "w") as f:
        f.write(f"""[node]
name = "bench.txmail.test"
data_dir = "{d}/data"
[log]
level = "warn"
file = "{d}/txmail.log"
[http]
listen = "127.0.0.1:0"
max_body = 20000000
[api]
hourly_limit = 0
max_job_size = 100000000
[notifications]
allow_private_targets = true
[delivery]
paused = true
[[account]]
name = "bench"
password = "bench-password"
allow_unverified_domains = true
""")
    node = subprocess.Popen([TXMAIL, "serve", "--config", conf], stdout=subprocess.DEVNULL,
                            stderr=open(os.path.join(d, "stderr"), "w"))
    ports = os.path.join(d, "data", "ports")
    while not os.path.exists(ports):
        time.sleep(0.05)
    with open(ports) as f:
        port = next(int(l.split()[2].rsplit(":", 1)[1]) for l in f if l.split()[:2] == ["http", "http"])
    time.sleep(0.3)
    urls = [f"http://127.0.0.1:{sink_port}/h{i}" for i in range(9)]
    urls.append(f"http://127.0.0.1:{hang_port}/h9" if hang else f"http://127.0.0.1:{sink_port}/h9")
    auth = {"Authorization": "Basic " + base64.b64encode(b"bench:bench-password").decode(),
            "Content-Type": "application/json"}
    t0 = time.time()
    for j in range(JOBS):
        job = {"subject": "bench", "body": {"contentType": "text/plain", "content": "hello"},
               "mail": {"from": {"email": "a@shop.example"}}, "notification": {"endPoint": {"url": urls[j % 10]}},
               "recipients": [{"mail": {"to": [{"email": f"r{i}@example.org"} for i in range(RCPTS)]}}]}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v2/jobs", data=json.dumps(job).encode(),
                                     method="POST", headers=auth)
        assert urllib.request.urlopen(req, timeout=120).status == 202
    healthy_jobs = sum(1 for j in range(JOBS) if j % 10 != 9 or not hang)
    want = healthy_jobs * RCPTS * 2
    counts = {}
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            with open(os.path.join(d, "sink.json")) as f:
                counts = json.load(f)
        except (OSError, ValueError):
            pass
        got = sum(v["notifications"] for p, v in counts.get("paths", {}).items() if p != "/h9" or not hang)
        if got >= want:
            break
        time.sleep(0.2)
    paths = {p: v for p, v in counts.get("paths", {}).items() if p != "/h9" or not hang}
    got = sum(v["notifications"] for v in paths.values())
    nine = {p: v for p, v in paths.items() if p != "/h9"}
    nine_n = sum(v["notifications"] for v in nine.values())
    nine_last = max(v["last"] for v in nine.values())
    rate = nine_n / (nine_last - t0)
    node.send_signal(signal.SIGTERM)
    node.wait(30)
    sink.send_signal(signal.SIGTERM)
    sink.wait(10)
    if hanging:
        hanging.close()
    print(f"{name:22s} notifications to the healthy endpoints {got}/{want}; to the nine: {nine_n} in "
          f"{nine_last - t0:.2f}s = {rate:,.0f} events/s")
    return rate


print(f"machine: {os.cpu_count()} cores; {JOBS} jobs x {RCPTS} recipients over 10 endpoints (delivery paused)")
base = run("ten healthy", False)
hung = run("one of ten hanging", True)
print(f"ratio (nine healthy beside a hanging one / without it): {hung / base:.2f}")
subprocess.run(["rm", "-rf", WORK])
