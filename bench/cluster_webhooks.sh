#!/usr/bin/env bash
# Cluster push notification benchmark (issue site-3, item 2): two nodes (sites a and b) of a
# three-server NATS JetStream region on loopback, each sending notifications from its own
# source address (127.0.0.2, 127.0.0.3); REST jobs at both nodes, delivered to a Postfix
# smtp-sink, each job naming a local receiver as its endpoint, so every batch goes through the
# region's queue (TXMAIL_HOOKS, consumer txmail_hooks). Live: notifications/s and the end-to-end
# lag (arrival minus the event's own time: p50 / p99 / max) while the jobs flow, each site's
# share of the batches, duplicates and lost notifications, and the status-read lag across sites
# (GET /v2/jobs/{id} polled at both: p50 / p99 / max). Backlog: the receiver holds every request
# while ~100,000 events are queued, then answers: the drain rate. Details and options in
# bench/cluster_webhooks.py.
# Usage: [TXMAIL_BIN=build/txmail] [KEEP=1] bench/cluster_webhooks.sh [--jobs N] [--recipients R]
#        [--threads T] [--backlog-recipients R] [--backlog-jobs N] [--sample S] [--trackers K] ...
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export TXMAIL_BIN=${TXMAIL_BIN:-$root/build/txmail}
export PYTHONPATH="$root/tests/lib${PYTHONPATH:+:$PYTHONPATH}"
exec /usr/bin/python3 "$(dirname "$0")/cluster_webhooks.py" "$@"
