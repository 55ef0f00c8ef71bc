#!/usr/bin/env bash
# Push notification benchmark (issue core-5): JOBS REST jobs of RCPTS recipients each (one
# block; delivery paused) make JOBS x RCPTS x 2 events (STARTED, and PROCESSED: the bench
# account sends unsigned), pushed to a local receiver (bench/webhook_sink.py) through the
# account's default endpoint. Reports notifications/s from the first job to the last
# notification received, and the POSTs that carried them.
# With ISOLATION=1: ten endpoints, then the same with one of them hanging (issue hooks-2;
# bench/webhooks_isolation.py).
# Usage: [ISOLATION=1] bench/webhooks.sh [JOBS] [RCPTS]   (defaults: 50, 1000: 100,000 events)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-50}
RCPTS=${2:-1000}
TXMAIL=${TXMAIL_BIN:-build/txmail}
if [ "${ISOLATION:-0}" = 1 ]; then
  exec /usr/bin/python3 bench/webhooks_isolation.py "$TXMAIL" "$JOBS" "$RCPTS"
fi
source "$(dirname "$0")/lib.sh"
bench_init webhooks

sink_port=$(free_port)
/usr/bin/python3 bench/webhook_sink.py "$sink_port" "$WORK/sink.json" &
PIDS+=($!)
start_api_node
/usr/bin/python3 - "$port" "$sink_port" "$JOBS" "$RCPTS" "$WORK/sink.json" "$(cat "$dir/data/admin.token")" <<'PY'
import base64, json, sys, time, urllib.request
port, sink_port, jobs, rcpts, sink_file, token = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
api = f"http://127.0.0.1:{port}"
def call(method, path, body, auth):
    req = urllib.request.Request(api + path, data=json.dumps(body).encode(), method=method,
                                 headers={"Content-Type": "application/json", **auth})
    return urllib.request.urlopen(req, timeout=120).status
admin = {"Authorization": "Bearer " + token, "X-Txmail-Account": "bench"}
call("PUT", "/v2/webhooks/endpoint", {"url": f"http://127.0.0.1:{sink_port}/hooks"}, admin)
basic = {"Authorization": "Basic " + base64.b64encode(b"bench:bench-password").decode()}
job = {"subject": "bench", "body": {"contentType": "text/plain", "content": "hello"},
       "mail": {"from": {"email": "a@shop.example"}},
       "recipients": [{"mail": {"to": [{"email": f"r{i}@example.org"} for i in range(rcpts)]}}]}
t0 = time.time()
for _ in range(jobs):
    assert call("POST", "/v2/jobs", job, basic) == 202
t_accepted = time.time()
want = jobs * rcpts * 2
deadline = time.time() + 600
counts = {}
while time.time() < deadline:
    try:
        counts = json.load(open(sink_file))
    except (OSError, ValueError):
        pass
    if counts.get("notifications", 0) >= want:
        break
    time.sleep(0.2)
n = counts.get("notifications", 0)
elapsed = counts.get("last", time.time()) - t0
print(f"machine: 2-core kind; load: {jobs} jobs x {rcpts} recipients = {want} events (delivery paused)")
print(f"txmail webhooks  notifications={n}/{want}  posts={counts.get('posts', 0)}  "
      f"accepted in {t_accepted - t0:.2f}s  all received in {elapsed:.2f}s  events/s={n / elapsed:,.0f}")
PY
