"""The deliveries report at 100,000 recipients (issue console-1): build/bench/message_search_bench
writes an event log of about 100,000 messages (50,000-odd jobs over 30 days, 4 accounts:
delivered, deferred then delivered, bounced, dropped) through the node's own event log class;
a node started on that data directory streams GET /v2/reports/deliveries.csv for the whole
range. Python's csv module reads every row; the row count and each message's state equal what
the events table says (the last event of each mail id, read with sqlite3, not through the
node's message index). The node's resident memory is sampled while the report streams: its
growth stays far below the report's size (the report is never held in memory), and within a
few MiB of the growth during a report thirty times smaller."""
import csv
import io
import sqlite3
from http.client import HTTPConnection

from txmail_harness import *

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.environ.get("TXMAIL_SEARCH_BENCH", os.path.join(HERE, "../../build/bench/message_search_bench"))
EVENTS = 210000  # about 100,000 messages: each has STARTED, its outcome, and 10% a deferral


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    fail("no VmRSS")


def report(tx, since, until):
    """Streams the report; returns (its text, its size, the largest RSS growth seen while it came)."""
    conn = HTTPConnection("127.0.0.1", tx.ports["http"], timeout=120)
    conn.request("GET", f"/v2/reports/deliveries.csv?since={since}&until={until}",
                 headers={"Authorization": "Bearer " + admin_token(tx)})
    r = conn.getresponse()
    check(r.status == 200 and r.getheader("content-type", "").startswith("text/csv"),
          f"report: {r.status} {r.getheader('content-type')}")
    before = rss_kib(tx.proc.pid)
    peak = before
    chunks = []
    while True:
        piece = r.read(64 * 1024)
        if not piece:
            break
        chunks.append(piece)
        peak = max(peak, rss_kib(tx.proc.pid))
    conn.close()
    body = b"".join(chunks)
    return body.decode("utf-8"), len(body), (peak - before) * 1024


tx = Txmail()
os.makedirs(tx.data_dir, exist_ok=True)
db = os.path.join(tx.data_dir, "events.db")
made = subprocess.run([BENCH, db, str(EVENTS)], capture_output=True, text=True, timeout=900)
check(made.returncode == 0, f"message_search_bench: {made.stderr[-2000:]}")

# The truth, from the events themselves: each mail id's last event.
con = sqlite3.connect(db)
expected = {}
for mail_id, reply, attempt in con.execute(
        "SELECT mail_id, reply, attempt FROM events WHERE seq IN (SELECT max(seq) FROM events GROUP BY mail_id)"):
    expected[mail_id] = "BOUNCED" if reply.startswith("550") else "DROPPED" if attempt == 0 else "DELIVERED"
con.close()
check(len(expected) >= 99000, f"the log holds {len(expected)} messages")

with tx:
    # A small report first (the last day): what streaming costs, whatever the size.
    _, small_size, small_growth = report(tx, "2025-11-30T00:00:00Z", "2025-12-01T06:00:00Z")
    text, size, growth = report(tx, "2025-10-31T12:00:00Z", "2025-12-01T06:00:00Z")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    check(len(rows) == len(expected), f"{len(rows)} rows for {len(expected)} messages")
    got = {row["mail_id"]: row["status"] for row in rows}
    wrong = [m for m in expected if got.get(m) != expected[m]]
    check(not wrong, f"{len(wrong)} states differ, e.g. {wrong[:3]}: {[got.get(m) for m in wrong[:3]]}")
    check(rows[0]["first_ts"] <= rows[-1]["first_ts"], "not oldest first")
    print(f"report: {len(rows)} rows, {size / 1e6:.1f} MB; node RSS growth while streaming: "
          f"{growth / 2**20:.1f} MiB (a {small_size / 1e6:.2f} MB report: {small_growth / 2**20:.1f} MiB)")
    check(growth < size / 4, f"the node grew by {growth} bytes for a {size}-byte report")
    check(growth < small_growth + 8 * 2**20, f"growth {growth} vs {small_growth} for a small report")
print("ok")
