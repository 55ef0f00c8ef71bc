#!/usr/bin/env bash
# DKIM signing benchmark (issue core-3): signatures per second on one core for 1 KiB, 10 KiB
# and 100 KiB messages, RSA-2048 and Ed25519 (build/bench/dkim_bench: the whole dkim::sign,
# body hash and canonicalization included), next to `openssl speed rsa2048 ed25519` (the raw
# signature primitive) on the same machine in the same run. Target: txmail's 1 KiB RSA-2048
# rate at least 90% of OpenSSL's raw RSA-2048 signing rate.
# Then the body hash alone (issue perf-1): `dkim_bench body` (relaxed and simple canonicalization
# with SHA-256, 100 KiB bodies; txmail's and the byte-at-a-time reference it replaced) next to
# `openssl speed -evp sha256` on 8 KiB blocks, the rate the canonicalizer cannot beat since
# every body byte goes through SHA-256. Target: txmail's relaxed on text at least 1.5 GB/s.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH=${DKIM_BENCH_BIN:-build/bench/dkim_bench}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "openssl: $(openssl version)"
# `dkim.sh body` runs the body hash part only.
if [ "${1:-}" != body ]; then
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
fi

# The body hash right after OpenSSL's SHA-256, so both see the same machine state.
sha=$(openssl speed -seconds 3 -bytes 8192 -evp sha256 2>/dev/null | awk '/^sha256/ {sub(/k$/, "", $2); print $2 / 1000}')
bodies=$("$BENCH" body)
echo
printf "%-10s %-8s %-7s %8s %8s %12s %8s\n" impl canon shape size "MB/s" "sha256 MB/s" ratio
while read -r impl canon shape size rate; do
  awk -v i="$impl" -v c="$canon" -v sh="$shape" -v s="$size" -v r="$rate" -v o="$sha" \
      'BEGIN { printf "%-10s %-8s %-7s %8d %8.0f %12.0f %7.0f%%\n", i, c, sh, s, r, o, 100 * r / o }'
done <<<"$bodies"
