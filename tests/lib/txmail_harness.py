"""Test harness: runs the real txmail binary with a temporary config on ephemeral ports and
talks SMTP to it over real sockets. Used by tests/dialogs and tests/e2e (one scenario per file).

Every helper fails loudly: a test that cannot reach its server fails, it is never skipped.
"""
import json
import re
import shutil
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

TXMAIL = os.environ.get("TXMAIL_BIN", os.path.join(os.path.dirname(__file__), "../../build/txmail"))
PASSWORD = "secret-password-1"
ALLOWED_IP = "127.0.0.2"  # the relay account's allow-listed source address


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Txmail:
    """One txmail process. `extra` is TOML appended to the generated config."""

    def __init__(self, extra="", smtp_settings="", accounts=None, tls_files=False, delivery="paused = true",
                 http_settings="", node_settings="", name="txmail.test"):
        """`delivery` is the [delivery] table's body: intake tests keep mail in the spool."""
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="txmail-test-")
        self.data_dir = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "txmail.log")
        tls = ""
        if tls_files:
            cert = os.path.join(self.dir, "cert.pem")
            key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=txmail.test"],
                           check=True, capture_output=True)
            tls = f'[tls]\ncert = "{cert}"\nkey = "{key}"\n'
        if accounts is None:
            # Tests of other subsystems send from any domain: the sender domain policy
            # (tests/e2e/dkim_*.py) is relaxed for these two accounts.
            # No hourly limit for them either: tests of the limit declare their own accounts.
            accounts = (f'[[account]]\nname = "alice"\npassword = "{PASSWORD}"\nallow_unverified_domains = true\n'
                        f'hourly_limit = 0\n\n'
                        f'[[account]]\nname = "relayer"\npassword = "{PASSWORD}"\nallow_ips = ["{ALLOWED_IP}/32"]\n'
                        f'allow_unverified_domains = true\nhourly_limit = 0\n')
        self.config_text = f"""
[node]
name = "{name}"
data_dir = "{self.data_dir}"
io_threads = 2
{node_settings}
[log]
level = "debug"
file = "{self.log}"
{tls}
[[smtp.listener]]
address = "127.0.0.1:0"
mode = "relay"
[[smtp.listener]]
address = "127.0.0.1:0"
mode = "submission"
[[smtp.listener]]
address = "127.0.0.1:0"
mode = "submissions"
[http]
listen = "127.0.0.1:0"
{http_settings}
[smtp]
shutdown_grace = "5s"
{smtp_settings}
[delivery]
{delivery}
{accounts}
{extra}
"""
        self.config = os.path.join(self.dir, "txmail.toml")
        with open(self.config, "w") as f:
            f.write(self.config_text)
        self.proc = None
        self.ports = {}

    def start(self, timeout=60):
        ports_file = os.path.join(self.data_dir, "ports")
        if os.path.exists(ports_file):
            os.unlink(ports_file)
        self.proc = subprocess.Popen([TXMAIL, "serve", "--config", self.config],
                                     stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "stderr"), "ab"))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                fail(f"txmail exited with {self.proc.returncode} at start: {self.stderr()}")
            if os.path.exists(ports_file):
                break
            time.sleep(0.02)
        else:
            fail("txmail did not start listening in time")
        self.ports = {}
        with open(ports_file) as f:
            for line in f:
                _, mode, addr = line.split()
                self.ports[mode] = int(addr.rsplit(":", 1)[1])
        return self

    def stderr(self):
        with open(os.path.join(self.dir, "stderr")) as f:
            return f.read()

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.send_signal(signal.SIGCONT)  # a paused node (a test that failed meanwhile)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                fail("txmail did not stop within %ss of SIGTERM" % timeout)
        rc = self.proc.returncode if self.proc else 0
        self.proc = None
        return rc

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def pause(self):
        """SIGSTOP: the process lives but does nothing (a node that only looks dead)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def spool(self, messages=False):
        args = [TXMAIL, "spool", "--data-dir", self.data_dir, "list"] + (["--messages"] if messages else [])
        out = subprocess.run(args, capture_output=True, check=False)
        check(out.returncode == 0, "spool list failed: " + out.stderr.decode(errors="replace"))
        return json.loads(out.stdout)

    def message(self, job_id):
        out = subprocess.run([TXMAIL, "spool", "--data-dir", self.data_dir, "show", job_id, "--raw"],
                             capture_output=True, check=False)
        check(out.returncode == 0, f"spool show {job_id} failed: " + out.stderr.decode(errors="replace"))
        return out.stdout

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if self.proc and self.proc.poll() is None:
            self.stop()
        if exc_type is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"txmail test files kept in {self.dir}", file=sys.stderr)


class Dialog:
    """A raw SMTP client: send exact bytes, read whole replies."""

    def __init__(self, port, host="127.0.0.1", source=None, implicit_tls=False, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        if implicit_tls:
            self._wrap()
        self.buf = b""

    def _wrap(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """Reads one reply; returns (code, [lines without the code])."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed; partial reply %r" % self.buf)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            text = line.decode("utf-8", errors="replace")
            lines.append(text[4:])
            if len(text) < 4 or text[3] != "-":
                return int(text[:3]), lines

    def expect(self, code, enhanced=None, what=""):
        got, lines = self.reply()
        check(got == code, f"{what}: expected {code}, got {got} {lines}")
        if enhanced is not None:
            check(lines[-1].startswith(enhanced + " "), f"{what}: expected {code} {enhanced}, got {got} {lines}")
        return lines

    def cmd(self, line, code, enhanced=None):
        self.send(line + "\r\n")
        return self.expect(code, enhanced, line)

    def starttls(self):
        self.cmd("STARTTLS", 220, "2.0.0")
        self._wrap()

    def closed(self, timeout=5):
        """True if the server closes the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def auth_plain(user, password):
    import base64
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()


def submission_session(tx, user="alice"):
    """A submission session past STARTTLS and AUTH."""
    d = Dialog(tx.ports["submission"])
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.starttls()
    d.cmd("EHLO client.test", 250)
    d.cmd("AUTH PLAIN " + auth_plain(user, PASSWORD), 235, "2.7.0")
    return d


def relay_session(tx):
    """A relay session from the allow-listed address (no AUTH needed)."""
    d = Dialog(tx.ports["relay"], source=ALLOWED_IP)
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    return d


def queued_id(lines):
    text = lines[-1]
    check("queued as " in text, "no job id in " + text)
    return text.split("queued as ")[1].strip()


class DnsServer:
    """tests/lib/dns_server.py serving `zone` (BIND syntax); `.address` is "127.0.0.1:PORT"."""

    def __init__(self, zone, synth=None, log_queries=True):
        """synth: {suffix: ip}: every dN.suffix is a domain of its own with MX mx.dN.suffix at ip."""
        self.dir = tempfile.mkdtemp(prefix="txmail-dns-")
        self.zone_file = os.path.join(self.dir, "zone")
        self.query_log = os.path.join(self.dir, "queries")
        with open(self.zone_file, "w") as f:
            f.write(zone)
        args = ["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "dns_server.py"), self.zone_file]
        if log_queries:
            args.append(self.query_log)
        for suffix, ip in (synth or {}).items():
            args += ["--synth", f"{suffix}={ip}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        check(line.strip().isdigit(), f"dns server did not start: {line!r}")
        self.port = int(line)
        self.address = f"127.0.0.1:{self.port}"

    def update(self, zone):
        """Replaces the zone (the server rereads it at its next query)."""
        tmp = self.zone_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(zone)
        os.replace(tmp, self.zone_file)

    def queries(self):
        try:
            with open(self.query_log) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SilentServer:
    """Accepts TCP connections on ip:port and never says a word: a hanging MX or notification
    endpoint. stop() frees the port at once (another server may bind it next)."""

    def __init__(self, ip, port):
        import threading
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((ip, port))
        self.sock.listen(1024)
        self.held = []
        self.accepted = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._accepted(conn)

    def _accepted(self, conn):
        self.held.append(conn)
        self.accepted += 1

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread: the port is free
        except OSError:
            pass
        self.sock.close()
        for c in self.held:
            c.close()


class ScriptedServer:
    """An asyncio TCP server on ip:port in a thread of its own: each connection runs the
    coroutine `session(reader, writer)` (a scripted MX). stop() closes the server and cancels
    the sessions still running."""

    def __init__(self, ip, port, session):
        import asyncio
        import threading
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve():
            self.server = await asyncio.start_server(session, ip, port)
            ready.set()
            try:
                await self.server.serve_forever()
            except asyncio.CancelledError:
                pass  # stop()
        threading.Thread(target=lambda: self.loop.run_until_complete(serve()), daemon=True).start()
        check(ready.wait(10), f"the server on {ip}:{port} did not start")

    def stop(self):
        import asyncio

        async def close():
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task() and task.get_coro().__name__ != "serve":
                    task.cancel()
        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)


class RefusingServer(SilentServer):
    """Answers every connection on ip:port with one reply and hangs up: an MX that refuses
    service. `connections` holds the time of each."""

    def __init__(self, ip, port, reply=b"421 4.3.2 overloaded, try later\r\n"):
        self.reply = reply
        self.connections = []
        super().__init__(ip, port)

    def _accepted(self, conn):
        self.connections.append(time.time())
        try:
            conn.sendall(self.reply)
        except OSError:
            pass
        conn.close()


class Sink:
    """tests/lib/smtp_sink.py on ADDRESS:PORT (an MX for delivery tests)."""

    def __init__(self, address, port, tls=None, delay=0.0, legacy=False):
        """legacy: without SMTPUTF8 and 8BITMIME."""
        self.dir = tempfile.mkdtemp(prefix="txmail-sink-")
        args = ["/usr/bin/python3", os.path.join(os.path.dirname(__file__), "smtp_sink.py"), address, str(port),
                self.dir]
        if legacy:
            args.append("--legacy")
        if tls:
            args += ["--tls", tls[0], tls[1]]
        if delay:
            args += ["--delay", str(delay)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        check(line.strip().isdigit(), f"sink on {address}:{port} did not start: {line!r}")
        self.address = address
        self.port = int(line)

    def messages(self):
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.startswith("msg-") and name.endswith(".json"):
                with open(os.path.join(self.dir, name)) as f:
                    out.append(json.load(f))
        return out

    def stats(self):
        with open(os.path.join(self.dir, "stats.json")) as f:
            return json.load(f)

    def count(self):
        """Messages accepted so far (without reading them)."""
        try:
            return self.stats()["messages"]
        except FileNotFoundError:
            return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def self_signed(directory, cn="sink.test"):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn], check=True, capture_output=True)
    return cert, key


def wait_for(what, predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    fail(f"timed out waiting for {what}")


def events(tx, job, phase="DELIVER", type=None):
    """The job's events of one phase (None: all) and type (None: all); delivery tests look at
    DELIVER only."""
    out = subprocess.run([TXMAIL, "events", "--data-dir", tx.data_dir, "--job", job], capture_output=True, text=True)
    check(out.returncode == 0, "txmail events failed: " + out.stderr)
    found = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return [e for e in found if (phase is None or e["phase"] == phase) and (type is None or e["type"] == type)]


def submit(tx, sender, recipients, body, source=ALLOWED_IP):
    """One message through the relay listener from the allow-listed address; returns the job id."""
    d = Dialog(tx.ports["relay"], source=source)
    d.expect(220)
    d.cmd("EHLO client.test", 250)
    d.cmd(f"MAIL FROM:<{sender}>", 250)
    for r in recipients:
        d.cmd(f"RCPT TO:<{r}>", 250)
    d.cmd("DATA", 354)
    stuffed = "\r\n".join("." + line if line.startswith(".") else line for line in body.split("\r\n"))
    d.send(stuffed + ".\r\n")
    job = queued_id(d.expect(250, "2.0.0"))
    d.cmd("QUIT", 221)
    return job


def admin_token(tx):
    with open(os.path.join(tx.data_dir, "admin.token")) as f:
        return f.read().strip()


class HttpAnswer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        ctype = headers.get("content-type", "")
        self.json = json.loads(body) if body and "json" in ctype else None

    def __repr__(self):
        return f"HTTP {self.status} {self.body[:400]!r}"


def http(tx, method, path, body=None, token=None, user=None, password=PASSWORD, key=None, headers=None,
         source=None, raw_body=None, port=None, tls=False):
    """One request to txmail's HTTP API. token: the admin token (True: read it); user: HTTP Basic;
    key: an API key. body: JSON-encoded; raw_body: bytes as is; tls: over the HTTPS listener
    (the test certificate is self-signed: not verified). Returns an HttpAnswer."""
    import base64
    import http.client
    hdrs = dict(headers or {})
    if token is True:
        token = admin_token(tx)
    if token:
        hdrs["Authorization"] = "Bearer " + token
    elif key:
        hdrs["Authorization"] = "Bearer " + key
    elif user:
        hdrs["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port or tx.ports["https"], timeout=60, context=ctx,
                                           source_address=(source, 0) if source else None)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port or tx.ports["http"], timeout=60,
                                          source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        res = conn.getresponse()
        text = res.read().decode("utf-8", errors="replace")
        return HttpAnswer(res.status, {k.lower(): v for k, v in res.getheaders()}, text)
    finally:
        conn.close()


def fill_disk(path):
    """Writes `path` until its file system is full (ENOSPC); the caller removes it."""
    with open(path, "wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
        except OSError:
            pass


def metric(tx, name):
    """The value of one unlabelled sample of /metrics (a gauge or counter), as a number."""
    body = http(tx, "GET", "/metrics").body
    found = re.search(r"^" + re.escape(name) + r" (\S+)$", body, re.M)
    check(found is not None, f"{name} is not in /metrics")
    return float(found.group(1))


def notifications_idle(tx):
    """Every logged event read by the dispatcher and nothing in its outbox: no notification is
    on its way or due (a batch leaves the outbox only once answered)."""
    return all(metric(tx, name) == 0 for name in
               ("txmail_event_log_backlog", "txmail_webhook_lag_events", "txmail_webhook_retry_backlog"))


def raw_http(tx, data, source="127.0.0.1", timeout=10):
    """Sends `data` as is to the HTTP API and returns what comes back up to the end of the
    response head (or until the server closes)."""
    s = socket.create_connection(("127.0.0.1", tx.ports["http"]), timeout=timeout, source_address=(source, 0))
    s.sendall(data)
    out = b""
    try:
        while b"\r\n\r\n" not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def cli(tx, *args, ok=True):
    """`txmail ARGS --config <tx's config> --json`: the parsed JSON (or, with ok=False, the
    CompletedProcess, for commands expected to fail)."""
    out = subprocess.run([TXMAIL, *args, "--config", tx.config, "--json"], capture_output=True, text=True, timeout=60)
    if not ok:
        return out
    check(out.returncode == 0, f"txmail {' '.join(args)} failed: {out.stderr}")
    return json.loads(out.stdout)


def submit_as(tx, user, sender, recipients, message):
    """One message over submission (STARTTLS, AUTH as `user`); returns (code, enhanced code and
    text, job id or None) of the reply to the message data."""
    d = submission_session(tx, user)
    d.cmd(f"MAIL FROM:<{sender}>", 250)
    for r in recipients:
        d.cmd(f"RCPT TO:<{r}>", 250)
    d.cmd("DATA", 354)
    stuffed = "\r\n".join("." + line if line.startswith(".") else line for line in message.split("\r\n"))
    d.send(stuffed + ("" if stuffed.endswith("\r\n") else "\r\n") + ".\r\n")
    code, lines = d.reply()
    d.cmd("QUIT", 221)
    job = queued_id(lines) if code == 250 else None
    return code, lines[-1], job


def txt_zone(records, ttl=60):
    """A test zone (origin test.) holding TXT records [(name, value)], long values split into
    character-strings; `ttl` is also the negative-caching time."""
    out = f"$ORIGIN test.\n$TTL {ttl}\n@ IN SOA ns.test. admin.test. 1 3600 600 86400 {ttl}\n"
    for name, value in records:
        chunks = " ".join('"%s"' % value[i:i + 250] for i in range(0, len(value), 250))
        out += f"{name}. IN TXT {chunks}\n"
    return out


def js_api(region, api, request):
    """One JetStream API request ("$JS.API.<api>", a JSON body) at site a's server: its answer."""
    return json.loads(nats_request(region.url("a"), "$JS.API." + api, json.dumps(request).encode()))


def spool_values(tx):
    """How many messages each site's spool stream holds, as `txmail cluster status` shows them."""
    return {x["stream"]: x.get("values") for x in cli(tx, "cluster", "status")["spool_streams"]}


def nats_request(url, subject, payload=b"", timeout=10):
    """One request over the NATS protocol to the server at `url` (nats://host:port): publishes
    `payload` on `subject` with a reply subject and returns the reply's payload. A JetStream
    publish answered this way is stored (the reply is its acknowledgement)."""
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as s:
        f = s.makefile("rb")
        f.readline()  # INFO
        s.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,"no_responders":true}\r\n'
                  b"SUB _INBOX.txmail-test 1\r\n")
        s.sendall(f"PUB {subject} _INBOX.txmail-test {len(payload)}\r\n".encode() + payload + b"\r\n")
        while True:
            line = f.readline()
            if not line:
                raise ConnectionError(f"the NATS server closed the connection: {subject}")
            if line.startswith(b"PING"):
                s.sendall(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise ConnectionError(line.decode().strip())
            elif line.startswith((b"MSG", b"HMSG")):
                size = int(line.split()[-1])
                data = f.read(size + 2)[:-2]
                if line.startswith(b"HMSG"):
                    header_size = int(line.split()[-2])
                    status = data[:header_size].split(b"\r\n", 1)[0]
                    raise ConnectionError(f"{subject}: {status.decode()}")
                return data


class NatsRegion:
    """A region of NATS JetStream on loopback (docs/cluster.md): one nats-server per site, each
    tagged site:<name>, with unique_tag "site:" so every R3 bucket has one replica per site.
    Default: sites a and b and the witness w. Each server is stopped by its PID."""

    def __init__(self, sites=("a", "b", "w"), max_payload="8MB"):
        self.dir = tempfile.mkdtemp(prefix="txmail-nats-")
        self.sites = list(sites)
        self.max_payload = max_payload
        self.procs = {}
        # Ports are picked free, then bound by nats-server: a test running beside this one can
        # take one in between ("address already in use"). Then the region starts again, on
        # other ports.
        for attempt in range(3):
            self._configure()
            for s in sites:
                self.start(s)
            try:
                state = wait_for("a JetStream meta leader", self._up_or_ended, timeout=60)
            except SystemExit:
                self.stop()
                raise
            if state == "ready":
                return
            ended = next(s for s, p in self.procs.items() if p.poll() is not None)
            with open(os.path.join(self.dir, f"{ended}.log"), errors="replace") as f:
                print(f"nats-server {ended} ended at start: {f.read()[-500:]}", file=sys.stderr)
            self.stop()
            self.procs = {}
            for s in sites:
                shutil.rmtree(os.path.join(self.dir, s), ignore_errors=True)
        fail(f"the NATS region did not come up in 3 tries; its files are in {self.dir}")

    def _configure(self):
        sites = self.sites
        self.client = {s: free_port() for s in sites}
        self.route = {s: free_port() for s in sites}
        self.monitor = {s: free_port() for s in sites}
        routes = ", ".join(f"nats-route://127.0.0.1:{self.route[s]}" for s in sites)
        for s in sites:
            role = "witness" if s == "w" else "data"
            with open(os.path.join(self.dir, f"{s}.conf"), "w") as f:
                f.write(f"""server_name: {s.upper()}
listen: 127.0.0.1:{self.client[s]}
http: 127.0.0.1:{self.monitor[s]}
max_payload: {self.max_payload}
server_tags: ["site:{s}", "role:{role}"]
jetstream {{
  store_dir: "{self.dir}/{s}"
  max_memory_store: 64MB
  max_file_store: 4GB
  unique_tag: "site:"
}}
cluster {{
  name: r1
  listen: 127.0.0.1:{self.route[s]}
  routes: [ {routes} ]
}}
""")

    def _up_or_ended(self):
        """"ended" when a server ended (at start: a port taken), "ready" when the region is."""
        if any(p.poll() is not None for p in self.procs.values()):
            return "ended"
        return "ready" if self._ready(self.sites) else None

    def url(self, site):
        return f"nats://127.0.0.1:{self.client[site]}"

    def start(self, site):
        log = open(os.path.join(self.dir, f"{site}.log"), "ab")
        self.procs[site] = subprocess.Popen(["nats-server", "-c", os.path.join(self.dir, f"{site}.conf")],
                                            stdout=log, stderr=log)

    def jsz(self, site, query=""):
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor[site]}/jsz{query}", timeout=2) as r:
                return json.loads(r.read())
        except OSError:
            return None

    def stream_messages(self, site, stream):
        """How many messages the replica of `stream` on `site`'s server holds (None: the server
        does not answer or holds no replica)."""
        import urllib.request
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor[site]}/jsz?accounts=true&streams=true",
                                        timeout=2) as r:
                z = json.loads(r.read())
        except OSError:
            return None
        for account in z.get("account_details") or []:
            for st in account.get("stream_detail") or []:
                if st.get("name") == stream:
                    return (st.get("state") or {}).get("messages", 0)
        return None

    def wait_ready(self, timeout=60):
        """Every running server sees a JetStream meta leader, the leader sees every running
        server as a current peer (else placing an R3 asset may fail: "no suitable peers"), and
        every stream has a leader that sees the replica on each running server as current. A
        server just restarted is still catching up until then: killing another one before that
        leaves a stream without a quorum (in CI the witness was restarted, a's server killed
        0.5 s later, and the node heartbeat bucket had no leader for 13 s)."""
        running = [s for s, p in self.procs.items() if p.poll() is None]
        wait_for("a JetStream meta leader and current stream and consumer replicas",
                 lambda: self._ready(running, consumers=True), timeout=timeout)

    def _ready(self, running, consumers=False):
        """Also every consumer (the shared push notification consumer, the nodes' watchers)
        with a leader and current replicas, when `consumers`."""
        names = {x.upper() for x in running}
        led, held = set(), set()
        for s in running:
            z = self.jsz(s, "?streams=true" + ("&consumers=true" if consumers else ""))
            meta = (z or {}).get("meta_cluster") or {}
            if not meta.get("leader"):
                return False
            if meta.get("leader") == s.upper():
                peers = {r["name"] for r in meta.get("replicas") or [] if r.get("current") and not r.get("offline")}
                if peers | {s.upper()} != names:
                    return False
            for account in z.get("account_details") or []:
                for stream in account.get("stream_detail") or []:
                    assets = [(stream["name"], stream.get("cluster") or {})]
                    assets += [((stream["name"], c["name"]), c.get("cluster") or {})
                               for c in stream.get("consumer_detail") or []]
                    for name, cluster in assets:
                        held.add(name)
                        if cluster.get("leader") != s.upper():
                            continue
                        led.add(name)
                        for r in cluster.get("replicas") or []:
                            if r["name"] in names and not r.get("current"):
                                return False
        return led == held

    def kill(self, site):
        p = self.procs.get(site)
        if p and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()

    def stop(self, site=None):
        for s in ([site] if site else list(self.procs)):
            p = self.procs.get(s)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        if exc_type is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"NATS test files kept in {self.dir}", file=sys.stderr)
