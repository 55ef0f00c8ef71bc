#!/usr/bin/env bash
# Scale benchmark (issue core-2): N deferred 1 KiB messages held by one node. Loads them with
# smtp-source through a relay listener; every recipient domain is routed to a closed port, so
# each message is attempted once, deferred, and waits for its retry (an hour later) in the
# scheduled queue. Reports txmail's resident memory per queued recipient (RSS after loading
# minus RSS before, divided by N; RocksDB's memtables are part of it) and the restart time
# (process start to listening with the schedule rebuilt from the spool).
# Usage: bench/scale.sh [N]     (default 1,000,000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
TXMAIL=${TXMAIL_BIN:-build/txmail}
source "$(dirname "$0")/lib.sh"
bench_init scale

port=$(free_port)
cat > "$WORK/txmail.toml" <<TOML
[node]
name = "scale.txmail.test"
data_dir = "$WORK/data"
[log]
level = "info"
file = "$WORK/txmail.log"
[[smtp.listener]]
address = "127.0.0.1:$port"
mode = "relay"
[http]
listen = "127.0.0.1:0"
[api]
hourly_limit = 0  # benchmarks measure throughput, not the per-account limit
[smtp]
max_connections_per_ip = 200
[delivery]
retry_schedule = ["1h"]
connect_timeout = "1s"
[[delivery.route]]
domain = "*"
relay = "127.0.0.1:9"
[[account]]
name = "scale"
password = "scale-password"
allow_ips = ["127.0.0.0/8"]
allow_unverified_domains = true
TOML
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
start() {
  rm -f "$WORK/data/ports"
  local t0 t1
  t0=$(now)
  "$TXMAIL" serve --config "$WORK/txmail.toml" 2>>"$WORK/stderr" &
  PID=$!
  PIDS+=("$PID")
  while [ ! -f "$WORK/data/ports" ]; do sleep 0.01; done
  t1=$(now)
  STARTUP=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
}

start
sleep 1
before=$(rss_kb $PID)
t0=$(now)
smtp-source -s 20 -m "$N" -l 1024 -f bench@example.com -t rcpt@example.net "127.0.0.1:$port"
t1=$(now)
sleep 10  # let every job be attempted once and deferred
after=$(rss_kb $PID)
awk -v n="$N" -v t0="$t0" -v t1="$t1" -v b="$before" -v a="$after" \
    'BEGIN { printf "loaded %d messages in %.0f s (%.0f/s); RSS %d MiB -> %d MiB: %.0f bytes per queued recipient\n", n, t1-t0, n/(t1-t0), b/1024, a/1024, (a-b)*1024/n }'
kill -9 $PID; wait $PID 2>/dev/null || true
start
echo "restart (kill -9, then start to listening, schedule rebuilt from $N spooled jobs): ${STARTUP} s"
grep -o 'spool recovered.*' "$WORK/txmail.log" | tail -1 || true
sleep 5  # the recovered jobs reach the engine's schedule
restarted=$(rss_kb $PID)
awk -v n="$N" -v b="$before" -v a="$restarted" \
    'BEGIN { printf "after restart: RSS %d MiB: %.0f bytes per queued recipient over the idle baseline\n", a/1024, (a-b)*1024/n }'
kill -TERM $PID; wait $PID 2>/dev/null && echo "stopped cleanly" || echo "exit status $? at stop"
