#!/usr/bin/env bash
# DKIM signing benchmark (issue core-3): signatures per second on one core for 1 KiB, 10 KiB
# and 100 KiB messages, RSA-2048 and Ed25519 (build/bench/dkim_bench: the whole dkim::sign,
# body hash and canonicalization included), next to `openssl speed rsa2048 ed25519` (the raw
# signature primitive) on the same machine in the same run. Target: txmail's 1 KiB RSA-2048
# rate at least 90% of OpenSSL's raw RSA-2048 signing rate.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${DKIM_BENCH_BIN:-build/bench/dkim_bench}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "openssl: $(openssl version)"
speed=$(openssl speed -seconds 3 rsa2048 ed25519 2>/dev/null)
rsa=$(awk '/^rsa 2048 bits/ {print $(NF-1)}' <<<"$speed")
ed=$(awk '/Ed25519/ && /bits/ {print $(NF-1)}' <<<"$speed")
ours=$("$BENCH")
echo
printf "%-16s %8s %14s %14s %8s\n" algorithm size "txmail sig/s" "openssl sig/s" ratio
while read -r alg size rate; do
  ref=$rsa
  [ "$alg" = "ed25519-sha256" ] && ref=$ed
  awk -v a="$alg" -v s="$size" -v r="$rate" -v o="$ref" \
      'BEGIN { printf "%-16s %8d %14.0f %14.0f %7.0f%%\n", a, s, r, o, 100 * r / o }'
done <<<"$ours"
