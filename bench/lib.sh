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


# --- DKIM mode (DKIM=1 or DKIM=both in bench/relay.sh and bench/rest.sh) ---------------------
# The sender domain is registered and verified as an operator does it (docs/dkim.md): `txmail
# domain add` on the running node generates its RSA-2048 key and prints the DNS records, the
# records are published in an authoritative DNS server (the tests' tests/lib/dns_server.py,
# serving $WORK/zone.db and rereading it when it changes), the node resolves through it
# (`[dns] servers`), and `txmail domain verify` finds them and activates the key. The account is
# strict (no allow_unverified_domains), so every message it accepts is signed: mail from a
# domain that is not its own and verified is refused, never sent unsigned.

# start_dns DOMAIN: the DNS server with an empty zone for DOMAIN; sets DNS_PORT.
start_dns() {
  SIGN_DOMAIN=$1
  dns_zone "$SIGN_DOMAIN" /dev/null > "$WORK/zone.db"
  /usr/bin/python3 tests/lib/dns_server.py "$WORK/zone.db" > "$WORK/dns.out" 2>&1 &
  PIDS+=($!)
  DNS_PORT=
  for _ in $(seq 100); do
    DNS_PORT=$(head -1 "$WORK/dns.out" 2>/dev/null | grep -x '[0-9]*' || true)
    [ -n "$DNS_PORT" ] && break
    sleep 0.05
  done
  [ -n "$DNS_PORT" ] || { echo "the DNS server did not start:"; cat "$WORK/dns.out"; exit 1; }
}
# dns_zone DOMAIN ADDED_JSON: a zone for DOMAIN holding the TXT records of `txmail domain add
# --json` (its "records"; /dev/null: none).
dns_zone() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
domain, path = sys.argv[1], sys.argv[2]
text = open(path).read().strip()
records = json.loads(text)["records"] if text else []
print(f"$ORIGIN {domain}.\n$TTL 60\n@ IN SOA ns.{domain}. admin.{domain}. 1 3600 600 86400 60")
for r in records:
    if r["type"] != "TXT":
        sys.exit(f"unexpected record type {r['type']}")
    value = r["value"]
    chunks = " ".join('"%s"' % value[i:i + 250] for i in range(0, len(value), 250))
    print(f"{r['name']}. IN TXT {chunks}")
PY
}
# dkim_toml: the node's configuration lines for the DKIM mode (after start_dns).
dkim_toml() {
  printf '[dns]\nservers = ["127.0.0.1:%s"]\n[dkim]\nrsa_bits = 2048\n' "$DNS_PORT"
}
# register_domain CONFIG ACCOUNT: $SIGN_DOMAIN added for ACCOUNT on the node running with
# CONFIG, its records published, verified; exits unless it is verified with one active RSA key.
register_domain() {
  local out="${1%/*}"
  "$TXMAIL" domain add "$SIGN_DOMAIN" --account "$2" --config "$1" --json > "$out/domain-add.json"
  dns_zone "$SIGN_DOMAIN" "$out/domain-add.json" > "$WORK/zone.db.new"
  mv -f "$WORK/zone.db.new" "$WORK/zone.db"
  sleep 0.1
  "$TXMAIL" domain verify "$SIGN_DOMAIN" --config "$1" --json > "$out/domain-verify.json"
  local key
  key=$(/usr/bin/python3 - "$out/domain-verify.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
keys = [(k.get("selector"), k.get("algorithm"), k.get("state")) for k in d.get("keys", [])]
if not d.get("verified") or [k[2] for k in keys] != ["active"] or keys[0][1] != "rsa-sha256":
    sys.exit(f"sender domain not verified with one active RSA key: {json.dumps(d)[:600]}")
print(d["keys"][0]["dns_record"].split("p=", 1)[1])
PY
  ) || exit 1
  # The key published, and so the one signing, is RSA-2048.
  base64 -d <<<"$key" | openssl pkey -pubin -inform DER -noout -text_pub | grep -q '(2048 bit)' ||
    { echo "the key of $SIGN_DOMAIN is not RSA-2048"; exit 1; }
}
# check_signed CONFIG FILE...: every message carries txmail's RSA signature for $SIGN_DOMAIN
# (relaxed/relaxed) and `txmail dkim verify` passes it with the key from DNS; prints a summary.
check_signed() {
  local config=$1 ok=0 n=0 f
  shift
  for f in "$@"; do
    n=$((n + 1))
    if grep -q "^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=$SIGN_DOMAIN; s=txm1;" "$f" &&
       "$TXMAIL" dkim verify "$f" --config "$config" >/dev/null 2>&1; then
      ok=$((ok + 1))
    fi
  done
  echo "signature check: $ok of $n messages carry a DKIM-Signature (rsa-sha256, d=$SIGN_DOMAIN) that txmail dkim verify passes"
  [ "$ok" -eq "$n" ] && [ "$n" -gt 0 ]
}

# --- A node for the API benchmarks (bench/rest.sh, bench/webhooks.sh) -------------------------
# start_api_node [NAME [signed]]: txmail under $WORK/NAME (default txmail) with delivery paused,
# no hourly limit, local webhook targets allowed, and the account bench / bench-password; sets
# dir, pid and port (its HTTP API). With "signed" (after start_dns): the DKIM mode above, the
# account strict and $SIGN_DOMAIN registered and verified for it.
start_api_node() {
  dir="$WORK/${1:-txmail}"
  local signed=${2:-} unverified="allow_unverified_domains = true"
  [ -n "$signed" ] && unverified=""
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
$unverified
TOML
  if [ -n "$signed" ]; then dkim_toml >> "$dir/txmail.toml"; fi
  "$TXMAIL" serve --config "$dir/txmail.toml" 2>>"$dir/stderr" &
  pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do [ -f "$dir/data/ports" ] && break; sleep 0.05; done
  port=$(awk '$1 == "http" && $2 == "http" {split($3, a, ":"); print a[2]}' "$dir/data/ports")
  if [ -n "$signed" ]; then register_domain "$dir/txmail.toml" bench; fi
}
