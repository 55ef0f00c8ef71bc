#!/usr/bin/env bash
# Ingest benchmark (issue core-1): Postfix's smtp-source (20 sessions) against txmail and
# against a private Postfix instance's smtpd, same machine, same run, 1 KiB and 10 KiB messages.
# Both keep every acknowledged message durable on disk: txmail syncs its spool (group commit)
# before each 250; Postfix fsyncs each queue file before its 250. Neither delivers during the
# measurement (txmail's delivery is paused; Postfix puts mail on hold), so both do the same job.
#
# Reports accepted messages/s (until smtp-source exits), server CPU time per message, and
# txmail's p50/p99 from the end of DATA to the 250 (measured inside txmail).
# Usage: bench/ingest.sh [MESSAGES] [RUNS]     (defaults: 20000 messages, 2 runs)
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-20000}
RUNS=${2:-2}
SESSIONS=20
TXMAIL=${TXMAIL_BIN:-build/txmail}

source "$(dirname "$0")/lib.sh"
bench_init bench

# --- txmail -----------------------------------------------------------------------------------
run_txmail() {  # $1 = message size
  local dir="$WORK/txmail-$1-$2" port
  port=$(free_port)
  mkdir -p "$dir"
  cat > "$dir/txmail.toml" <<TOML
[node]
name = "bench.txmail.test"
data_dir = "$dir/data"
[log]
level = "info"
file = "$dir/txmail.log"
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
paused = true
[[account]]
name = "bench"
password = "bench-password"
allow_ips = ["127.0.0.0/8"]
allow_unverified_domains = true
TOML
  "$TXMAIL" serve --config "$dir/txmail.toml" 2>>"$dir/stderr" &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do [ -f "$dir/data/ports" ] && break; sleep 0.05; done
  local c0 t0 t1 c1
  c0=$(cpu_ticks $pid); t0=$(now)
  smtp-source -s $SESSIONS -m "$MESSAGES" -l "$1" -f bench@example.com -t rcpt@example.net "127.0.0.1:$port"
  t1=$(now); c1=$(cpu_ticks $pid)
  kill -TERM $pid; wait $pid || true
  local jobs lat
  jobs=$("$TXMAIL" spool --data-dir "$dir/data" list | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
  lat=$(grep -o 'ack_latency_us p50=[0-9]* p99=[0-9]*' "$dir/txmail.log" | tail -1 || true)
  syncs=$(grep -o 'spool records=[0-9]* syncs=[0-9]*' "$dir/txmail.log" | tail -1 || true)
  awk -v n="$MESSAGES" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" \
      -v lat="$lat" -v syncs="$syncs" -v jobs="$jobs" -v size="$1" \
      'BEGIN { printf "txmail  size=%-6d accepted/s=%7.0f cpu/msg=%.3fms spooled=%d %s %s\n", size, n/(t1-t0), 1000*c/hz/n, jobs, lat, syncs }'
}

run_postfix() {  # $1 = message size
  local dir="$WORK/postfix" c0 t0 t1 c1
  postsuper -c "$dir" -d ALL hold >/dev/null 2>&1 || true
  c0=$(postfix_ticks); t0=$(now)
  smtp-source -s $SESSIONS -m "$MESSAGES" -l "$1" -f bench@example.com -t rcpt@example.net "127.0.0.1:$POSTFIX_PORT"
  t1=$(now); c1=$(postfix_ticks)
  local held
  held=$(find "$dir/queue/hold" -type f | wc -l)
  awk -v n="$MESSAGES" -v t0="$t0" -v t1="$t1" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v held="$held" -v size="$1" \
      'BEGIN { printf "postfix size=%-6d accepted/s=%7.0f cpu/msg=%.3fms held=%d\n", size, n/(t1-t0), 1000*c/hz/n, held }'
}

run_ceiling() {  # smtp-source straight into smtp-sink: nothing can accept faster
  local port t0 t1 pid
  port=$(free_port)
  smtp-sink -u nobody -c 127.0.0.1:$port 1024 >/dev/null 2>&1 &
  pid=$!
  PIDS+=("$pid")
  sleep 0.3
  t0=$(now)
  smtp-source -s $SESSIONS -m "$MESSAGES" -l "$1" -f bench@example.com -t rcpt@example.net "127.0.0.1:$port"
  t1=$(now)
  kill $pid; wait $pid 2>/dev/null || true
  awk -v n="$MESSAGES" -v t0="$t0" -v t1="$t1" -v size="$1" \
      'BEGIN { printf "ceiling size=%-6d accepted/s=%7.0f (smtp-source into smtp-sink)\n", size, n/(t1-t0) }'
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "load: smtp-source -s $SESSIONS -m $MESSAGES (one connection per message), loopback"
# BENCH_ONLY=txmail measures txmail alone (for before/after comparisons of a change).
ONLY=${BENCH_ONLY:-}
[ -z "$ONLY" ] && setup_postfix "smtpd_client_restrictions = check_client_access static:HOLD"
for size in ${BENCH_SIZES:-1024 10240}; do
  [ -z "$ONLY" ] && run_ceiling "$size"
  for run in $(seq "$RUNS"); do
    run_txmail "$size" "$run"
    [ -z "$ONLY" ] && run_postfix "$size"
  done
done
