#!/usr/bin/env bash
# Cluster events benchmark (issue site-3, item 1): two nodes (sites a and b) of a three-server
# NATS JetStream region on loopback; REST jobs at a, their events copied to b through the
# stream TXMAIL_EVENTS. Reports the copy rate (a backlog copied by a fresh b, and live under
# load), the tail after a's last event, and the status-read lag across sites (GET /v2/jobs/{id}
# polled at a and b: p50 / p99 / max). Details and options in bench/cluster_events.py.
# Usage: [TXMAIL_BIN=build/txmail] [KEEP=1] bench/cluster_events.sh [--jobs N] [--recipients R]
#        [--threads T] [--backlog-jobs N] [--sample S] [--trackers K] [--idle-sample S] ...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export TXMAIL_BIN=${TXMAIL_BIN:-$root/build/txmail}
export PYTHONPATH="$root/tests/lib${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 "$(dirname "$0")/cluster_events.py" "$@"
