#!/usr/bin/env bash
# Delivery to many destinations (issue deliver-2): N messages (default 100,000) to one domain,
# to N distinct domains and to N/10 domains x 10, end to end (REST intake to the last delivery)
# through nsd and smtp-sink on loopback; then resident memory per queued destination. Details
# in bench/destinations.py.
# Usage: bench/destinations.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/destinations.py "${TXMAIL_BIN:-build/txmail}" "${1:-100000}"
