"""Load for the replicated spool's tests (issue site-2): submissions to txmail nodes over SMTP
and REST at once, every acknowledgement recorded, and a ledger that matches them with what the
sink received."""
import smtplib
import threading
import time

from txmail_harness import ALLOWED_IP, http


class Load:
    """Per node: `smtp_threads` SMTP clients (relay listener, one connection per message) and
    `rest_threads` REST clients, each pacing itself to `per_thread` messages a second. Every
    message has a unique subject "load <node> <kind> <n>"; every answer is kept with its time."""

    def __init__(self, nodes, smtp_threads=2, rest_threads=1, per_thread=5.0):
        self.nodes = nodes
        self.per_thread = per_thread
        self.lock = threading.Lock()
        self.acked = {}     # subject -> (node, time)
        self.refused = []   # (node, subject, answer, time)
        self.stopping = threading.Event()
        self.paused = {tx.name: threading.Event() for tx in nodes}
        self.threads = []
        for tx in nodes:
            for i in range(smtp_threads):
                self.threads.append(threading.Thread(target=self._run, args=(tx, f"smtp{i}", self._smtp), daemon=True))
            for i in range(rest_threads):
                self.threads.append(threading.Thread(target=self._run, args=(tx, f"rest{i}", self._rest), daemon=True))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(120)

    def pause(self, tx):
        """No new submission to `tx` (its node is down)."""
        self.paused[tx.name].set()

    def resume(self, tx):
        self.paused[tx.name].clear()

    def _run(self, tx, kind, send):
        n = 0
        while not self.stopping.is_set():
            started = time.monotonic()
            if not self.paused[tx.name].is_set():
                n += 1
                subject = f"load {tx.name} {kind} {n}"
                try:
                    answer = send(tx, subject)
                except Exception as e:  # a node killed under the client
                    answer = f"{type(e).__name__}: {e}"
                now = time.monotonic()
                with self.lock:
                    if answer in (250, 202):
                        self.acked[subject] = (tx.name, now)
                    else:
                        self.refused.append((tx.name, subject, answer, now))
            # Paces the load (not a wait for a condition): at most per_thread a second.
            self.stopping.wait(max(0.0, 1.0 / self.per_thread - (time.monotonic() - started)))

    @staticmethod
    def _smtp(tx, subject):
        message = (f"From: shop@example.com\r\nTo: load@dest.test\r\nSubject: {subject}\r\n"
                   f"Message-ID: <{subject.replace(' ', '.')}@example.com>\r\n\r\nYour code is 123456.\r\n")
        try:
            with smtplib.SMTP("127.0.0.1", tx.ports["relay"], timeout=60, source_address=(ALLOWED_IP, 0)) as s:
                s.sendmail("shop@example.com", ["load@dest.test"], message)
            return 250
        except smtplib.SMTPResponseException as e:
            return e.smtp_code

    @staticmethod
    def _rest(tx, subject):
        job = {"subject": {"content": subject}, "body": {"contentType": "text/plain", "content": "Your code"},
               "mail": {"from": {"email": "shop@example.com"}},
               "recipients": [{"mail": {"to": [{"email": "load@dest.test"}]}}]}
        return http(tx, "POST", "/v2/jobs", job, user="alice").status

    def acked_by(self, name, before=None):
        with self.lock:
            return {s: t for s, (n, t) in self.acked.items() if n == name and (before is None or t <= before)}

    def longest_gap(self, name, since=None, until=None):
        """The longest time between two acknowledgements at node `name` (seconds)."""
        with self.lock:
            times = sorted(t for n, t in self.acked.values() if n == name
                           and (since is None or t >= since) and (until is None or t <= until))
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


class Ledger:
    """What the sink received, by subject."""

    def __init__(self, sink):
        self.sink = sink
        self._seen = {}   # file name -> subject
        self.counts = {}

    def refresh(self):
        import json
        import os
        for name in sorted(os.listdir(self.sink.dir)):
            if not (name.startswith("msg-") and name.endswith(".json")) or name in self._seen:
                continue
            with open(os.path.join(self.sink.dir, name)) as f:
                data = json.load(f)["data"]
            subject = ""
            for line in data.split("\r\n"):
                if line.startswith("Subject: "):
                    subject = line[len("Subject: "):]
                    break
                if not line:
                    break
            self._seen[name] = subject
            self.counts[subject] = self.counts.get(subject, 0) + 1
        return self.counts

    def missing(self, subjects):
        counts = self.refresh()
        return [s for s in subjects if counts.get(s, 0) == 0]

    def duplicates(self, prefix="load "):
        counts = self.refresh()
        return {s: c for s, c in counts.items() if s.startswith(prefix) and c > 1}
