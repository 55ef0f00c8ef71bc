#!/usr/bin/env bash
# The short fuzz runs of `make test` (issue harden-1): every libFuzzer target built by
# `make fuzz` runs for SECONDS from its seed corpus (fuzz/corpus/<name>, read only; new inputs
# go to a scratch corpus), JOBS at a time. Any crash, leak, timeout or trap fails the run; the
# input that did it is kept as <fuzz dir>/short/<name>/crash-* and the log's end is printed.
#   usage: scripts/fuzz-short.sh FUZZ_DIR SECONDS JOBS NAME...
set -euo pipefail

fuzz_dir=$1
seconds=$2
jobs=$3
shift 3
root=$(cd "$(dirname "$0")/.." && pwd)

run_one() {
  local name=$1 work="$fuzz_dir/short/$1"
  rm -rf "$work"
  mkdir -p "$work/corpus"
  if "$fuzz_dir/fuzz/fuzz_$name" "$work/corpus" "$root/fuzz/corpus/$name" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/" >"$work/log" 2>&1; then
    echo "fuzz $name: ok, $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" \
      | grep -o '[0-9]*$') runs in ${seconds}s"
  else
    echo "fuzz $name: FAILED (log: $work/log)"
    tail -n 40 "$work/log"
    return 1
  fi
}
export -f run_one
export fuzz_dir seconds root

printf '%s\n' "$@" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}
