#!/usr/bin/env bash
# Cluster configuration benchmark (issue site-1): a region of three nats-servers on loopback
# (sites a and b, the witness w) and txmail nodes. 1,000 configuration changes at site a and
# their propagation to site b (p50 / p99 / max); then a node starting against a bucket of
# 100,000 accounts and 100,000 sender domains (written by build/bench/cluster_config_fill):
# time to its ports file and to /readyz 200, and resident memory, against a node on an empty
# bucket. Details in bench/cluster_config.py.
# Usage: [CHANGES=1000] [N=100000] [STARTS=2] [SETTLE=5] [VERIFY_INTERVAL=10] [VERIFY_WATCH=35]
#        [RESULTS=file.json] [KEEP=1]
#        bench/cluster_config.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export TXMAIL_BIN=${TXMAIL_BIN:-build/txmail}
export FILL_BIN=${FILL_BIN:-build/bench/cluster_config_fill}
if [ ! -x "$TXMAIL_BIN" ] || [ ! -x "$FILL_BIN" ]; then
  cmake --build build -j2 --target txmail cluster_config_fill
fi
PYTHONPATH=tests/lib exec /usr/bin/python3 bench/cluster_config.py
