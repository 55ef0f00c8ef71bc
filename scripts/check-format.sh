#!/usr/bin/env bash
# The tree follows .clang-format (issue quality-1): every C++ file under src/, fuzz/ and bench/.
# Prints each file that drifts and exits 1; `make format` fixes them.
set -uo pipefail
root="${1:-$(dirname "$0")/..}"
cd "$root" || exit 2
status=0
while IFS= read -r -d '' f; do
  if ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f"
    status=1
  fi
done < <(find src fuzz bench -name '*.h' -print0 -o -name '*.cc' -print0)
exit $status
