"""A push notification receiver for tests and benchmarks: an HTTP server on 127.0.0.1 in a
thread of the test's own process. It records every request (path, headers, parsed body) and
answers with the status set for its path (default 200). A path in `hold` (a threading.Event)
gets its answer only once that event is set (or after a minute): the request is recorded at
once, with "held": True. A path in `delay` (seconds) gets its answer that much later (a slow
endpoint). stop() closes the listening socket (the receiver is "down":
connections are refused); start() listens again on the same port."""
import hashlib
import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    def __init__(self, port=0, tls=None):
        """tls: (certfile, keyfile) to serve HTTPS."""
        self.tls = tls
        self.lock = threading.Lock()
        self.requests = []
        self.status = {}  # path -> status code
        self.hold = {}  # path -> threading.Event: answered once set
        self.delay = {}  # path -> seconds before the answer
        self.server = None
        self.thread = None
        self.port = port or self._free_port()
        self.start()

    @staticmethod
    def _free_port():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        return port

    def url(self, path="/hook", host="127.0.0.1"):
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                code = receiver.status.get(self.path, 200)
                gate = receiver.hold.get(self.path)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                with receiver.lock:
                    receiver.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                              "raw": raw, "body": body, "status": code,
                                              "client": self.client_address[0], "time": time.time(),
                                              "held": gate is not None and not gate.is_set()})
                if gate is not None:
                    gate.wait(60)
                if receiver.delay.get(self.path):
                    time.sleep(receiver.delay[self.path])
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client that went away (txmail killed mid-request) is not the test's failure

        self.server = Server(("127.0.0.1", self.port), Handler)
        if self.tls:
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self.tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def got(self, path=None):
        """The requests so far (to `path` only, when given)."""
        with self.lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def notifications(self, path=None, status=200):
        """Every notification in requests answered `status`, each with its batch's meta."""
        out = []
        for r in self.got(path):
            if r["status"] == status and r["body"]:
                for n in r["body"]["notifications"]:
                    out.append((r["body"]["meta"], n["meta"]))
        return out


def signature_ok(request, secret):
    """X-Txmail-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body"> under the account's secret."""
    parts = dict(p.split("=", 1) for p in request["headers"].get("x-txmail-signature", "").split(","))
    if "t" not in parts or "v1" not in parts:
        return False
    want = hmac.new(secret.encode(), parts["t"].encode() + b"." + request["raw"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, parts["v1"])
