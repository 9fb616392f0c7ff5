#!/usr/bin/env bash
# Runs every fuzz target for a longer time (default 600 s each, two at a time)
# on its seeds and what earlier runs found, and prints executions and findings
# per target. Usage: scripts/fuzz.sh [seconds per target] [executions per target]
# (each target stops at whichever limit it reaches first; no execution limit by default)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
runs=${2:--1}
scripts/setup.sh
cmake --preset sanitize >/dev/null
cmake --build --preset sanitize -j "$(nproc)"
dir=build/sanitize/tests/fuzz
targets=$(cd "$dir" && ls fuzz_* | grep -v write_seeds | sed 's/^fuzz_//')
run() {
  local t=$1
  mkdir -p "$dir/corpus/$t" "$dir/artifacts"
  ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/fuzz_$t" -max_total_time="$seconds" -runs="$runs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$dir/artifacts/$t-" "$dir/corpus/$t" "tests/fuzz/corpus/$t" >"$dir/$t.log" 2>&1 && rc=0 || rc=$?
  printf '%-16s %12s executions  exit %s\n' "$t" \
    "$(sed -n 's/^stat::number_of_executed_units: //p' "$dir/$t.log")" "$rc"
}
export -f run
export dir seconds runs
printf '%s\n' $targets | xargs -P "$(nproc)" -I{} bash -c 'run {}'
ls "$dir/artifacts" 2>/dev/null | sed 's/^/finding: /' || true
