#!/usr/bin/env bash
# Relay benchmark (issue core-2): smtp-source (20 sessions) -> MTA -> smtp-sink, end to end,
# txmail and Postfix in the same run on the same machine against the same sink. Both relay
# every recipient domain to the sink (txmail: [[delivery.route]] "*"; Postfix: relayhost), with
# 20 connections to it, TLS off, and every acknowledged message synced to disk.
#
# Reports end-to-end messages/s (first submission to the last message counted by the sink),
# accepted messages/s (until smtp-source exits) and the MTA's CPU time per message.
# Usage: bench/relay.sh [MESSAGES] [RUNS]     (defaults: 5000 messages, 2 runs; sizes 10 and 100 KiB)
set -euo pipefail
cd "$(dirname "$0")/.."
MESSAGES=${1:-5000}
RUNS=${2:-2}
SESSIONS=20
TXMAIL=${TXMAIL_BIN:-build/txmail}
source "$(dirname "$0")/lib.sh"
bench_init relay

start_sink() {  # on $SINK_PORT; its running count goes to $WORK/sink.out
  smtp-sink -u nobody -c "127.0.0.1:$SINK_PORT" 1024 > "$WORK/sink.out" 2>&1 &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  sleep 0.3
}
stop_sink() { kill "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; }
sink_count() { tail -c 200 "$WORK/sink.out" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2; }
wait_sink() {  # until the sink has counted $1 messages (or 10 minutes)
  local deadline=$(( $(date +%s) + 600 ))
  while [ "$(sink_count || echo 0)" -lt "$1" ] 2>/dev/null; do
    [ "$(date +%s)" -gt $deadline ] && { echo "timed out at $(sink_count) messages"; return 1; }
    sleep 0.05
  done
}

run_txmail() {  # $1 = size, $2 = run
  local dir="$WORK/txmail-$1-$2" port pid c0 c1 t0 ta t1
  port=$(free_port)
  mkdir -p "$dir"
  cat > "$dir/txmail.toml" <<TOML
[node]
name = "bench.txmail.test"
data_dir = "$dir/data"
[log]
level = "warn"
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
tls = "disabled"
max_connections_per_site = 20
max_messages_per_connection = 10000
idle_connection = "1s"
[[delivery.route]]
domain = "*"
relay = "127.0.0.1:$SINK_PORT"
[[account]]
name = "bench"
password = "bench-password"
allow_ips = ["127.0.0.0/8"]
allow_unverified_domains = true
TOML
  start_sink
  "$TXMAIL" serve --config "$dir/txmail.toml" 2>>"$dir/stderr" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do [ -f "$dir/data/ports" ] && break; sleep 0.05; done
  c0=$(cpu_ticks $pid); t0=$(now)
  smtp-source -s $SESSIONS -m "$MESSAGES" -l "$1" -f bench@example.com -t rcpt@example.net "127.0.0.1:$port"
  ta=$(now)
  wait_sink "$MESSAGES"
  t1=$(now); c1=$(cpu_ticks $pid)
  kill -TERM $pid; wait $pid || true
  stop_sink
  awk -v n="$MESSAGES" -v t0="$t0" -v ta="$ta" -v t1="$t1" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v size="$1" \
      'BEGIN { printf "txmail  size=%-6d end-to-end/s=%6.0f accepted/s=%6.0f cpu/msg=%.3fms\n", size, n/(t1-t0), n/(ta-t0), 1000*c/hz/n }'
}

run_postfix() {  # $1 = size
  local dir="$WORK/postfix" c0 c1 t0 ta t1
  start_sink
  c0=$(postfix_ticks); t0=$(now)
  smtp-source -s $SESSIONS -m "$MESSAGES" -l "$1" -f bench@example.com -t rcpt@example.net "127.0.0.1:$POSTFIX_PORT"
  ta=$(now)
  wait_sink "$MESSAGES"
  t1=$(now); c1=$(postfix_ticks)
  stop_sink
  awk -v n="$MESSAGES" -v t0="$t0" -v ta="$ta" -v t1="$t1" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v size="$1" \
      'BEGIN { printf "postfix size=%-6d end-to-end/s=%6.0f accepted/s=%6.0f cpu/msg=%.3fms\n", size, n/(t1-t0), n/(ta-t0), 1000*c/hz/n }'
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "load: smtp-source -s $SESSIONS -m $MESSAGES, relayed to smtp-sink on loopback"
ONLY=${BENCH_ONLY:-}
setup_postfix "smtp_destination_concurrency_limit = 20
default_destination_concurrency_limit = 20
smtp_connection_cache_on_demand = yes"
[ -n "$ONLY" ] && postfix -c "$WORK/postfix" stop >/dev/null 2>&1
# Each measurement starts on a quiet disk: the previous run's dirty pages (gigabytes at 100 KiB)
# are written back first instead of slowing the next MTA's syncs.
quiesce() { sync; sleep 2; }
for size in ${BENCH_SIZES:-10240 102400}; do
  for run in $(seq "$RUNS"); do
    quiesce
    run_txmail "$size" "$run"
    quiesce
    [ -z "$ONLY" ] && run_postfix "$size"
  done
done
