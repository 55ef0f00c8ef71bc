#!/usr/bin/env bash
# Replicated spool benchmark (issue site-2). (1) In the same run, for 10 KiB and 100 KiB:
# smtp-source (20 sessions) -> txmail -> smtp-sink against an embedded node and against node a
# of a three-server NATS region on loopback (sites a and b, the witness w): accepted msg/s,
# p50 / p99 acceptance latency (the node's "stopped: ... ack_latency_us" log line) and the ratio
# cluster/embedded (target >= 70%). (2) With SOAK: two nodes under SMTP+REST load while a whole
# site (its nats-server and its node, kill -9) is killed and restarted every 120 s, alternating
# a and b; acknowledged, delivered, lost (exit 1 if > 0), duplicates. Details in
# bench/cluster_relay.py.
# Usage: [N10=2000] [N100=1000] [RUNS=2] [SOAK=1|SECONDS] [SOAK_DOWN=30] [RESULTS=file.json]
#        [KEEP=1] bench/cluster_relay.sh [--soak SECONDS] [--skip-throughput]
# SOAK=1 runs the 600 s soak after the throughput part; SOAK=SECONDS (> 1) a soak that long.
set -euo pipefail
cd "$(dirname "$0")/.."
export TXMAIL_BIN=${TXMAIL_BIN:-build/txmail}
if [ ! -x "$TXMAIL_BIN" ]; then
  cmake --build build -j2 --target txmail
fi
args=()
case "${SOAK:-}" in
  ""|0) ;;
  1) args+=(--soak 600) ;;
  *) args+=(--soak "$SOAK") ;;
esac
PYTHONPATH=tests/lib exec /usr/bin/python3 bench/cluster_relay.py "${args[@]}" "$@"
