#!/usr/bin/env bash
# The CNN training step (bench_conv, batch 64, two threads, and one thread for
# reference) on a quiet machine and with a busy loop competing for a core,
# under OpenMP's three wait policies: libgomp's default (spin for a while,
# then sleep), passive (sleep at once) and active (spin). Prints the median of
# five repetitions of each, in milliseconds, and the CPU.
# Usage: bench/contention.sh [build dir]   (default build/release)
set -euo pipefail
bench="${1:-build/release}/bench/bench_conv"
lscpu | grep -E 'Model name|^CPU\(s\)' | sed 's/  */ /g'
step() {  # prints the median step time for the given thread count, under the environment given
  local threads=$1; shift
  env "$@" "$bench" --benchmark_filter="LeptonCnnTrainingStep/threads:${threads}/" --benchmark_repetitions=5 \
    --benchmark_report_aggregates_only=true --benchmark_min_time=2 2>/dev/null |
    awk '/_median/ {printf "%.1f", $2 / 1e6}'
}
printf '%-6s %-9s %14s %14s\n' load policy "2 threads ms" "1 thread ms"
for load in quiet busy; do
  busy_pid=""
  if [ "$load" = busy ]; then
    (while :; do :; done) &
    busy_pid=$!
  fi
  for policy in default passive active; do
    setting=(); [ "$policy" = default ] || setting=(OMP_WAIT_POLICY=$policy)
    printf '%-6s %-9s %14s %14s\n' "$load" "$policy" "$(step 2 "${setting[@]}")" "$(step 1 "${setting[@]}")"
  done
  [ -z "$busy_pid" ] || kill "$busy_pid"
done
