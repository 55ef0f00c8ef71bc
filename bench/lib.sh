#!/usr/bin/env bash
# Helpers shared by the whole-system benchmarks (sourced after set -euo pipefail).

# bench_init NAME: a scratch directory in $WORK, removed at exit with every process in $PIDS and
# the private Postfix instance, if one was started (KEEP=1 keeps the directory).
bench_init() {
  WORK=$(mktemp -d "/tmp/txmail-$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$WORK/postfix/main.cf" ] && postfix -c "$WORK/postfix" stop >/dev/null 2>&1 || true
  sleep 0.5
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}

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

# --- Postfix ----------------------------------------------------------------------------------
setup_postfix() {  # $1: extra main.cf lines
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
${1:-}
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


# --- A node for the API benchmarks (bench/rest.sh, bench/webhooks.sh) -------------------------
# start_api_node: txmail under $WORK/txmail with delivery paused, no hourly limit, local webhook
# targets allowed, and the account bench / bench-password; sets dir, pid and port (its HTTP API).
start_api_node() {
  dir="$WORK/txmail"
  mkdir -p "$dir"
  cat > "$dir/txmail.toml" <<TOML
[node]
name = "bench.txmail.test"
data_dir = "$dir/data"
[log]
level = "warn"
file = "$dir/txmail.log"
[http]
listen = "127.0.0.1:0"
[api]
hourly_limit = 0  # benchmarks measure throughput, not the per-account limit
[notifications]
allow_private_targets = true
[[smtp.listener]]
address = "127.0.0.1:0"
mode = "relay"
[delivery]
paused = true
[[account]]
name = "bench"
password = "bench-password"
allow_unverified_domains = true
TOML
  "$TXMAIL" serve --config "$dir/txmail.toml" 2>>"$dir/stderr" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do [ -f "$dir/data/ports" ] && break; sleep 0.05; done
  port=$(awk '$1 == "http" && $2 == "http" {split($3, a, ":"); print a[2]}' "$dir/data/ports")
}
