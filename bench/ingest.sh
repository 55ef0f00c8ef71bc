#!/usr/bin/env bash
# Ingest benchmark (issue core-1): Postfix's smtp-source (20 sessions) against txmail and
# against a private Postfix instance's smtpd, same machine, same run, 1 KiB and 10 KiB messages.
# Both keep every acknowledged message durable on disk: txmail syncs its spool (group commit)
# before each 250; Postfix fsyncs each queue file before its 250. Neither delivers during the
# measurement (txmail has no delivery yet; Postfix puts mail on hold), so both do the same job.
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
WORK=$(mktemp -d /tmp/txmail-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/postfix/main.cf" ] && postfix -c "$WORK/postfix" stop >/dev/null 2>&1 || true
  sleep 0.5
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15+$16+$17}' "/proc/$1/stat"; }
postfix_ticks() {  # every process of the private instance (master and its children)
  local total=0
  # The master's counters include the children it has reaped; add the ones still alive.
  local master
  master=$(tr -d ' ' < "$WORK/postfix/queue/pid/master.pid")
  for p in $master $(pgrep -P "$master" || true); do
    t=$(awk '{print $14+$15+$16+$17}' "/proc/$p/stat" 2>/dev/null || echo 0); total=$((total + t))
  done
  echo $total
}
now() { date +%s.%N; }

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
[smtp]
max_connections_per_ip = 200
[[account]]
name = "bench"
password = "bench-password"
allow_ips = ["127.0.0.0/8"]
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

# --- Postfix ----------------------------------------------------------------------------------
setup_postfix() {
  local dir="$WORK/postfix"
  POSTFIX_PORT=$(free_port)
  SINK_PORT=$(free_port)
  mkdir -p "$dir/queue" "$dir/data"
  chmod 755 "$WORK"
  chown postfix "$dir/data"
  cat > "$dir/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
myhostname = bench.postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK_PORT
smtpd_client_restrictions = check_client_access static:HOLD
smtpd_relay_restrictions = permit_mynetworks, reject
local_transport = error:local
alias_maps =
alias_database =
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
smtpd_tls_security_level = none
smtp_tls_security_level = none
default_process_limit = 100
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
CF
  cat > "$dir/master.cf" <<CF
127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
local     unix - n n - - local
virtual   unix - n n - - virtual
lmtp      unix - - n - - lmtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
  postfix -c "$dir" check >/dev/null 2>&1
  postfix -c "$dir" start >/dev/null 2>&1 || { echo "postfix did not start:"; tail -5 "$dir/maillog"; exit 1; }
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$POSTFIX_PORT") 2>/dev/null && break
    sleep 0.1
  done
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
[ -z "$ONLY" ] && setup_postfix
for size in ${BENCH_SIZES:-1024 10240}; do
  [ -z "$ONLY" ] && run_ceiling "$size"
  for run in $(seq "$RUNS"); do
    run_txmail "$size" "$run"
    [ -z "$ONLY" ] && run_postfix "$size"
  done
done
