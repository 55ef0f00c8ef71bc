#!/usr/bin/env python3
"""A push notification receiver for benchmarks: answers 200 to every POST, counts batches and
notifications, and writes the counts (and the time the last one arrived) to FILE each second
and at exit (in all, and per request path). Usage: webhook_sink.py PORT FILE"""
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, out = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
counts = {"posts": 0, "notifications": 0, "first": 0.0, "last": 0.0, "paths": {}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        n = body.count(b'"tag":')
        now = time.time()
        with lock:
            counts["posts"] += 1
            counts["notifications"] += n
            counts["first"] = counts["first"] or now
            counts["last"] = now
            per = counts["paths"].setdefault(self.path, {"notifications": 0, "last": 0.0})
            per["notifications"] += n
            per["last"] = now
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def save(*_):
    with lock:
        data = json.dumps(counts)
    with open(out + ".tmp", "w") as f:
        f.write(data)
    import os
    os.replace(out + ".tmp", out)


def stop(*_):
    save()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
while True:
    time.sleep(1)
    save()
