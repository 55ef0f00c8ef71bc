#!/usr/bin/env bash
# Relay benchmark (issue core-2): smtp-source (20 sessions) -> MTA -> smtp-sink, end to end,
# txmail and Postfix in the same run on the same machine against the same sink. Both relay
# every recipient domain to the sink (txmail: [[delivery.route]] "*"; Postfix: relayhost), with
# 20 connections to it, TLS off, and every acknowledged message synced to disk.
#
# Reports end-to-end messages/s (first submission to the last message counted by the sink),
# accepted messages/s (until smtp-source exits) and the MTA's CPU time per message.
# DKIM (issue perf-1): DKIM=1 makes txmail sign every message: the sender domain example.com
# (smtp-source's From: <bench@example.com>) is registered for the account with `txmail domain
# add` (an RSA-2048 key, relaxed/relaxed), its records published in a local authoritative DNS
# server the node resolves through, and verified with `txmail domain verify`, before the clock
# starts; the account is strict, so an unsigned message would be refused, not relayed
# (bench/lib.sh, "DKIM mode"). After each signed run, 10 more messages go through the same node
# to a sink that keeps them (smtp-sink -d), and each must pass `txmail dkim verify`. DKIM=both
# runs txmail unsigned, txmail signed and Postfix for each size and run, and ends with a table of
# both modes against the same Postfix run; DKIM=0 (the default) is the unsigned run alone.
# Postfix signs nothing in any mode.
# RETURN_PATH (issue bounce-1): RETURN_PATH=1 runs txmail with [bounces] domain set, so every
# recipient's envelope sender is its own VERP return path (b-<token>@bounces.bench.test, one
# transaction per recipient); RETURN_PATH=both runs each txmail mode without and then with it
# (modes "unsigned-rp", "signed-rp"), in the same round against the same Postfix run.
# Usage: [DKIM=0|1|both] [RETURN_PATH=0|1|both] bench/relay.sh [MESSAGES] [RUNS]
#        (defaults: 5000 messages, 2 runs; sizes 10 and 100 KiB, or BENCH_SIZES="bytes ...")
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

run_txmail() {  # $1 = size, $2 = run, $3 = unsigned or signed, with "-rp": the return path on
  local dir="$WORK/txmail-$1-$2-$3" port pid c0 c1 t0 ta t1 unverified="allow_unverified_domains = true"
  local signing=${3%-rp}
  [ "$signing" = signed ] && unverified=""
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
$unverified
TOML
  [ "$signing" = signed ] && dkim_toml >> "$dir/txmail.toml"
  [ "$signing" != "$3" ] && printf '[bounces]\ndomain = "bounces.bench.test"\n' >> "$dir/txmail.toml"
  start_sink
  "$TXMAIL" serve --config "$dir/txmail.toml" 2>>"$dir/stderr" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do [ -f "$dir/data/ports" ] && break; sleep 0.05; done
  [ "$signing" = signed ] && register_domain "$dir/txmail.toml" bench
  c0=$(cpu_ticks $pid); t0=$(now)
  smtp-source -s $SESSIONS -m "$MESSAGES" -l "$1" -f bench@example.com -t rcpt@example.net "127.0.0.1:$port"
  ta=$(now)
  wait_sink "$MESSAGES"
  t1=$(now); c1=$(cpu_ticks $pid)
  if [ "$signing" = signed ] || [ "$signing" != "$3" ]; then check_relayed "$1" "$port" "$dir" "$3" || exit 1; fi
  kill -TERM $pid; wait $pid || true
  stop_sink
  awk -v n="$MESSAGES" -v t0="$t0" -v ta="$ta" -v t1="$t1" -v c="$((c1 - c0))" -v hz="$(getconf CLK_TCK)" -v size="$1" -v mode="$3" \
      'BEGIN { printf "txmail  %-11s size=%-6d end-to-end/s=%6.0f accepted/s=%6.0f cpu/msg=%.3fms\n", mode, size, n/(t1-t0), n/(ta-t0), 1000*c/hz/n }' |
    tee -a "$WORK/results"
}

# check_relayed SIZE PORT DIR MODE: once the node's delivery connections have gone idle and
# closed, the sink is replaced by one that keeps every message (smtp-sink -d), 10 more messages
# are relayed through the node and each must carry a signature that `txmail dkim verify` passes
# (signed modes) and a VERP envelope sender (modes with the return path).
check_relayed() {
  local dump="$3/sink-dump"
  sleep 2  # [delivery] idle_connection = "1s"
  stop_sink
  mkdir -p "$dump"
  chmod 777 "$dump"
  smtp-sink -u nobody -c -d "$dump/%H%M%S." "127.0.0.1:$SINK_PORT" 1024 > "$WORK/sink.out" 2>&1 &
  SINK_PID=$!
  PIDS+=("$SINK_PID")
  sleep 0.3
  smtp-source -s 2 -m 10 -l "$1" -f bench@example.com -t rcpt@example.net "127.0.0.1:$2"
  wait_sink 10
  sleep 0.2
  if [ "${4%-rp}" != "$4" ] && [ "$(grep -l '^X-Mail-Args: <b-[a-z2-7]\{55\}@bounces.bench.test>' "$dump"/* | wc -l)" != 10 ]; then
    echo "the return path is not on every relayed message"; return 1
  fi
  [ "${4%-rp}" = signed ] || return 0
  check_signed "$3/txmail.toml" "$dump"/*
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
      'BEGIN { printf "postfix %-11s size=%-6d end-to-end/s=%6.0f accepted/s=%6.0f cpu/msg=%.3fms\n", "unsigned", size, n/(t1-t0), n/(ta-t0), 1000*c/hz/n }' |
    tee -a "$WORK/results"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "load: smtp-source -s $SESSIONS -m $MESSAGES, relayed to smtp-sink on loopback, DKIM ${DKIM:=0}"
case $DKIM in
  0) MODES="unsigned" ;;
  1) MODES="signed" ;;
  both) MODES="unsigned signed" ;;
  *) echo "DKIM must be 0, 1 or both"; exit 1 ;;
esac
case ${RETURN_PATH:=0} in
  0) ;;
  1) MODES=$(for m in $MODES; do printf '%s-rp ' "$m"; done) ;;
  both) MODES=$(for m in $MODES; do printf '%s %s-rp ' "$m" "$m"; done) ;;
  *) echo "RETURN_PATH must be 0, 1 or both"; exit 1 ;;
esac
echo "txmail modes: $MODES"
[ "$DKIM" = 0 ] || start_dns example.com
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
    for mode in $MODES; do
      quiesce
      run_txmail "$size" "$run" "$mode"
    done
    quiesce
    [ -z "$ONLY" ] && run_postfix "$size"
  done
done
[ -n "$ONLY" ] && exit 0

# Each txmail run against the Postfix run of the same size and round (the next Postfix line).
echo
printf "%-11s %8s %14s %14s %7s %16s %16s\n" mode size "txmail e2e/s" "postfix e2e/s" ratio "txmail cpu/msg" "postfix cpu/msg"
awk '{ gsub(/= +/, "="); for (i = 3; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
     $1 == "txmail" { n++; mode[n] = $2; size[n] = v["size"]; e2e[n] = v["end-to-end/s"]; cpu[n] = v["cpu/msg"] }
     $1 == "postfix" { for (; done < n; done++) { j = done + 1
         printf "%-11s %8d %14.0f %14.0f %6.2fx %16s %16s\n", mode[j], size[j], e2e[j], v["end-to-end/s"], e2e[j] / v["end-to-end/s"], cpu[j], v["cpu/msg"] } }' \
    "$WORK/results"
