#!/usr/bin/env bash
# REST intake benchmark (issue core-4): wrk posts JobRequests (one recipient, a text body of
# SIZE bytes, HTTP Basic, keep-alive) to POST /v2/jobs over CONNECTIONS connections for
# DURATION; delivery is paused, so this measures acceptance alone: parse, validate, compose,
# spool (synced) and events stored before each 202. Reports jobs/s, latency and the node's CPU
# per job, and checks that every 202 is in the spool.
# With WEBHOOKS=1 the account's default endpoint is a local receiver (bench/webhook_sink.py),
# so every job's events are also pushed: the cost of notifications on acceptance.
# Usage: [WEBHOOKS=1] bench/rest.sh [DURATION] [CONNECTIONS] [SIZE]   (defaults: 20s, 20, 2048)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20s}
CONNECTIONS=${2:-20}
SIZE=${3:-2048}
TXMAIL=${TXMAIL_BIN:-build/txmail}
source "$(dirname "$0")/lib.sh"
bench_init rest
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }

start_api_node
if [ "${WEBHOOKS:-0}" = 1 ]; then
  sink_port=$(free_port)
  /usr/bin/python3 bench/webhook_sink.py "$sink_port" "$WORK/sink.json" &
  PIDS+=($!)
  sleep 0.3
  curl -sf -X PUT -H "Authorization: Bearer $(cat "$dir/data/admin.token")" -H "X-Txmail-Account: bench" \
       -H "Content-Type: application/json" -d "{\"url\": \"http://127.0.0.1:$sink_port/hooks\"}" \
       "http://127.0.0.1:$port/v2/webhooks/endpoint" >/dev/null
fi

/usr/bin/python3 - "$SIZE" > "$WORK/post.lua" <<'PY'
import json, sys
size = int(sys.argv[1])
text = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * (size // 57 + 1))[:size]
job = {"subject": {"content": "Your receipt"}, "body": {"contentType": "text/plain", "content": text},
       "mail": {"from": {"email": "Shop <receipts@shop.example>"}},
       "recipients": [{"mail": {"to": [{"email": "Customer <customer@example.org>"}]}}]}
body = json.dumps(job)
print('wrk.method = "POST"')
print('wrk.headers["Content-Type"] = "application/json"')
print('wrk.headers["Authorization"] = "Basic YmVuY2g6YmVuY2gtcGFzc3dvcmQ="')  # bench:bench-password
print("wrk.body = " + json.dumps(body))
print("""
local accepted, other = 0, 0
response = function(status, headers, body)
  if status == 202 then accepted = accepted + 1 else other = other + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("latency p50=%.2fms p99=%.2fms\\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
""")
PY

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "load: wrk -c $CONNECTIONS -t 2 -d $DURATION, POST /v2/jobs, 1 recipient, ${SIZE}-byte text, webhooks ${WEBHOOKS:-0}"
# Warm the credential cache and the spool.
wrk -c 2 -t 1 -d 2s -s "$WORK/post.lua" "http://127.0.0.1:$port/v2/jobs" >/dev/null
before=$("$TXMAIL" spool --data-dir "$dir/data" list 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' || echo 0)
c0=$(cpu_ticks $pid)
wrk -c "$CONNECTIONS" -t 2 -d "$DURATION" -s "$WORK/post.lua" "http://127.0.0.1:$port/v2/jobs" > "$WORK/wrk.out"
c1=$(cpu_ticks $pid)
kill -TERM $pid; wait $pid || true
after=$("$TXMAIL" spool --data-dir "$dir/data" list | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk.out")
lat=$(grep '^latency' "$WORK/wrk.out")
awk -v rps="$rps" -v reqs="$reqs" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v lat="$lat" \
    -v spooled="$((after - before))" -v bad="${non2xx:-0}" \
    'BEGIN { printf "txmail REST  jobs/s=%7.0f  %s  cpu/job=%.3fms  requests=%d non-202=%d spooled=%d\n", rps, lat, 1000*c/hz/reqs, reqs, bad, spooled }'
if [ "${WEBHOOKS:-0}" = 1 ]; then
  sleep 1.5
  echo "webhooks received: $(cat "$WORK/sink.json")"
fi
