#!/usr/bin/env bash
# clang-tidy with the project's .clang-tidy (issue quality-1).
#   check-tidy.sh BUILD_DIR JOBS        the files changed since the commit in scripts/tidy-base
#   check-tidy.sh BUILD_DIR JOBS all    every C++ source of src/ and fuzz/
# The whole tree was clean at the commit named in scripts/tidy-base. A change is checked by
# every .cc it touched since then, and every .cc that includes a header it touched (committed
# or not). After a clean `make tidy-all`, scripts/tidy-base may move to that commit. Prints the
# diagnostics of each failing file and exits 1 when there is any.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:?usage: check-tidy.sh BUILD_DIR JOBS [all]}"
jobs="${2:-2}"
scope="${3:-changed}"
cd "$root" || exit 2
[[ "$build" = /* ]] || build="$root/$build"
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "check-tidy: $build/compile_commands.json is missing (build first)" >&2
  exit 2
fi

# The sources the build compiles (compile_commands.json), under src/ and fuzz/.
mapfile -t compiled < <(python3 - "$build/compile_commands.json" "$root" <<'PY' | sort -u
import json, os, sys
root = sys.argv[2] + "/"
for entry in json.load(open(sys.argv[1])):
    f = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    if f.startswith(root + "src/") or f.startswith(root + "fuzz/"):
        print(f[len(root):])
PY
)

if [[ "$scope" == all ]]; then
  files=("${compiled[@]}")
else
  base="$(tr -d '[:space:]' < scripts/tidy-base)"
  if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
    echo "check-tidy: scripts/tidy-base names $base, which this clone does not have" >&2
    exit 2
  fi
  mapfile -t touched < <({ git diff --name-only "$base" -- src fuzz; git ls-files --others --exclude-standard -- src fuzz; } | sort -u)
  declare -A want=()
  for f in "${touched[@]}"; do
    [[ -f "$f" ]] || continue
    case "$f" in
      *.cc) want["$f"]=1 ;;
      *.h)
        # Every compiled file that names the header (as "module/name.h" from src/).
        header="${f#src/}"
        for c in "${compiled[@]}"; do
          if grep -q "#include \"$header\"" "$c"; then
            want["$c"]=1
          fi
        done
        ;;
    esac
  done
  files=()
  for c in "${compiled[@]}"; do
    [[ -n "${want[$c]:-}" ]] && files+=("$c")
  done
fi

if [[ ${#files[@]} -eq 0 ]]; then
  echo "check-tidy: no C++ source changed since $(cat scripts/tidy-base)"
  exit 0
fi
echo "check-tidy: ${#files[@]} files with $(clang-tidy --version | grep -o 'version [0-9.]*')"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# clang-tidy's exit status also counts diagnostics in system headers (see .clang-tidy): a file
# fails when a diagnostic is located in this tree, or when clang-tidy could not run at all.
printf '%s\n' "${files[@]}" | xargs -P "$jobs" -I{} sh -c \
  'log="$3/$(echo "$2" | tr / _).log"
   clang-tidy -p "$1" --quiet "$2" > "$log" 2>&1
   status=$?
   if grep -Eq "^$4/[^:]+:[0-9]+:[0-9]+: (warning|error):" "$log" \
      || { [ $status -ne 0 ] && ! grep -Eq "^/usr/[^:]+:[0-9]+:[0-9]+: (warning|error):" "$log"; }; then
     echo "$2" >> "$3/failed"
   fi' _ "$build" {} "$out" "$root"
if [[ -s "$out/failed" ]]; then
  while read -r f; do
    echo "=== clang-tidy: $f"
    grep -v "warnings generated\|warning treated as error\|warnings treated as errors\|Suppressed .* warnings\|Use -header-filter\|NOLINT" "$out/$(echo "$f" | tr / _).log"
  done < <(sort "$out/failed")
  echo "check-tidy: $(wc -l < "$out/failed") of ${#files[@]} files have findings" >&2
  exit 1
fi
echo "check-tidy: ${#files[@]} files clean"
