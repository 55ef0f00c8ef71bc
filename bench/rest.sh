#!/usr/bin/env bash
# REST intake benchmark (issue core-4): wrk posts JobRequests (one recipient, a text body of
# SIZE bytes, HTTP Basic, keep-alive) to POST /v2/jobs over CONNECTIONS connections for
# DURATION; delivery is paused, so this measures acceptance alone: parse, validate, compose,
# spool (synced) and events stored before each 202. Reports jobs/s, latency and the node's CPU
# per job, and checks that every 202 is in the spool.
# With WEBHOOKS=1 the account's default endpoint is a local receiver (bench/webhook_sink.py),
# so every job's events are also pushed: the cost of notifications on acceptance.
# DKIM (issue perf-1): DKIM=1 signs every job: the sender domain shop.example is registered for
# the account with `txmail domain add` (an RSA-2048 key, relaxed/relaxed), its records published
# in a local authoritative DNS server the node resolves through, and verified with `txmail
# domain verify`; the account is strict, so an unsigned job would be refused, not accepted
# (bench/lib.sh, "DKIM mode"). DKIM=both measures an unsigned node, then a signed one, in the
# same invocation and prints both lines; DKIM=0 (the default) is the unsigned run alone. After a
# signed run, five spooled messages must carry the signature and pass `txmail dkim verify`.
# Usage: [WEBHOOKS=1] [DKIM=0|1|both] bench/rest.sh [DURATION] [CONNECTIONS] [SIZE]
#        (defaults: 20s, 20, 2048)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-20s}
CONNECTIONS=${2:-20}
SIZE=${3:-2048}
TXMAIL=${TXMAIL_BIN:-build/txmail}
source "$(dirname "$0")/lib.sh"
bench_init rest
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }

case ${DKIM:=0} in
  0) MODES="unsigned" ;;
  1) MODES="signed" ;;
  both) MODES="unsigned signed" ;;
  *) echo "DKIM must be 0, 1 or both"; exit 1 ;;
esac
[ "$DKIM" = 0 ] || start_dns shop.example

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
echo "load: wrk -c $CONNECTIONS -t 2 -d $DURATION, POST /v2/jobs, 1 recipient, ${SIZE}-byte text, webhooks ${WEBHOOKS:-0}, DKIM $DKIM"

run_rest() {  # $1: unsigned or signed
  local signed="" before after c0 c1 reqs rps non2xx lat
  [ "$1" = signed ] && signed=signed
  start_api_node "txmail-$1" $signed
  if [ "${WEBHOOKS:-0}" = 1 ]; then
    sink_port=$(free_port)
    /usr/bin/python3 bench/webhook_sink.py "$sink_port" "$WORK/sink-$1.json" &
    PIDS+=($!)
    sleep 0.3
    curl -sf -X PUT -H "Authorization: Bearer $(cat "$dir/data/admin.token")" -H "X-Txmail-Account: bench" \
         -H "Content-Type: application/json" -d "{\"url\": \"http://127.0.0.1:$sink_port/hooks\"}" \
         "http://127.0.0.1:$port/v2/webhooks/endpoint" >/dev/null
  fi
  # Warm the credential cache and the spool.
  wrk -c 2 -t 1 -d 2s -s "$WORK/post.lua" "http://127.0.0.1:$port/v2/jobs" >/dev/null
  before=$("$TXMAIL" spool --data-dir "$dir/data" list 2>/dev/null | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' || echo 0)
  c0=$(cpu_ticks "$pid")
  wrk -c "$CONNECTIONS" -t 2 -d "$DURATION" -s "$WORK/post.lua" "http://127.0.0.1:$port/v2/jobs" > "$WORK/wrk-$1.out"
  c1=$(cpu_ticks "$pid")
  kill -TERM "$pid"; wait "$pid" || true
  "$TXMAIL" spool --data-dir "$dir/data" list > "$dir/spool.json"
  after=$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$dir/spool.json")
  reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk-$1.out")
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/wrk-$1.out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$WORK/wrk-$1.out")
  lat=$(grep '^latency' "$WORK/wrk-$1.out")
  awk -v mode="$1" -v rps="$rps" -v reqs="$reqs" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v lat="$lat" \
      -v spooled="$((after - before))" -v bad="${non2xx:-0}" \
      'BEGIN { printf "txmail REST %-8s jobs/s=%7.0f  %s  cpu/job=%.3fms  requests=%d non-202=%d spooled=%d\n", mode, rps, lat, 1000*c/hz/reqs, reqs, bad, spooled }'
  if [ -n "$signed" ]; then  # five of the jobs accepted, as spooled
    local files=() id
    for id in $(/usr/bin/python3 -c 'import json,sys; print(" ".join(j["job_id"] for j in json.load(open(sys.argv[1]))[-5:]))' "$dir/spool.json"); do
      "$TXMAIL" spool --data-dir "$dir/data" show "$id" --raw > "$dir/job-$id.eml"
      files+=("$dir/job-$id.eml")
    done
    check_signed "$dir/txmail.toml" "${files[@]}" || exit 1
  fi
  if [ "${WEBHOOKS:-0}" = 1 ]; then
    sleep 1.5
    echo "webhooks received: $(cat "$WORK/sink-$1.json")"
  fi
}

# Each measurement starts on a quiet disk (the previous node's dirty pages written back).
for mode in $MODES; do sync; sleep 2; run_rest "$mode"; done
