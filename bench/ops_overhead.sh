#!/usr/bin/env bash
# Throughput and latency of the same trivial JSON route served by bare axum
# and under the full ops-kit stack, in one run, alternating, on loopback.
# Three servers: bare axum; the ops-kit stack with its [METRICS] line (text
# format, to a file); and the same stack with the line filtered out
# (LOG_LEVEL=info,ops_kit::metrics=off), which separates the cost of the
# line from the cost of the rest of the stack. A fourth run sends the
# ops-kit server's liveness probe (GET /api/health/live, with its line)
# instead of the JSON route: the probe against bare axum's trivial route.
#
#   bench/ops_overhead.sh [rounds] [seconds] [connections]
#
# BASELINE_BIN=path/to/an/older/ops-kit-bench adds a fifth server to every
# round: the ops-kit stack (line on) as built by that binary, for judging a
# change against the build before it in the same alternating run.
#
# The server is pinned to core 0 (one runtime worker; ops-kit's log writer
# thread shares that core), wrk to core 1. Besides requests/s, the script
# reports the server's CPU time per request (user + system, from
# /proc/PID/stat), the time the hypervisor stole from core 0, and how long
# wrk's core sat idle: on a virtual machine, waking an idle wrk costs the
# server an inter-processor interrupt, so a slower server pays more kernel
# time per request (docs/performance.md). The ops-kit server's [METRICS]
# lines go to a file (in LOG_DIR, default a tmpfs directory), and the script
# checks that the file holds at least one line per request served: no line
# is dropped.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-5}
seconds=${2:-10}
conns=${3:-32}
out=bench/results
mkdir -p "$out"
# Where the servers' stdout goes. The default is a file in memory (tmpfs),
# so that the kernel writing dirty pages back to disk, which belongs to
# whatever keeps the logs (in a container, the runtime), does not run on
# the load generator's core; LOG_DIR=bench/results puts it on disk.
logs=${LOG_DIR:-/dev/shm/ops-overhead}
mkdir -p "$logs"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p ops-kit-bench
bin=target/release/ops-kit-bench

port_of() { # wait for the "Listening"/"listening" line and print the port
  local log=$1
  for _ in $(seq 1 100); do
    if grep -qi 'listening on' "$log" 2>/dev/null; then
      grep -oiE 'listening on (http://)?[0-9.]+:[0-9]+' "$log" | head -1 | grep -oE '[0-9]+$'
      return
    fi
    sleep 0.05
  done
  echo "server did not start" >&2; cat "$log" >&2; exit 1
}

run_one() { # variant -> "rps p50_ms p99_ms lines requests"
  local variant=$1 log="$logs/server-$1.log" server=$1 level=info path=/json exe=$bin
  if [ "$variant" = quiet ]; then server=ops; level=info,ops_kit::metrics=off; fi
  if [ "$variant" = live ]; then server=ops; path=/api/health/live; fi
  if [ "$variant" = baseline ]; then server=ops; exe=$BASELINE_BIN; fi
  : >"$log"
  LOG_LEVEL=$level taskset -c 0 "$exe" "$server" 0 >"$log" 2>&1 &
  local pid=$!
  local port; port=$(port_of "$log")
  # warm up
  taskset -c 1 wrk -t1 -c"$conns" -d1s "http://127.0.0.1:$port$path" >/dev/null
  local before; before=$(grep -c '^\[METRICS\]' "$log" || true)
  local cpu0 steal0 idle0; cpu0=$(cpu_ticks "$pid"); steal0=$(steal_ticks); idle0=$(idle_ticks)
  local report; report=$(taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --latency "http://127.0.0.1:$port$path")
  local cpu1 steal1 idle1; cpu1=$(cpu_ticks "$pid"); steal1=$(steal_ticks); idle1=$(idle_ticks)
  sleep 0.5
  local after; after=$(grep -c '^\[METRICS\]' "$log" || true)
  kill -TERM "$pid"; wait "$pid" || true
  local rps p50 p99 requests
  rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$report")
  requests=$(awk '/requests in/ {print $1}' <<<"$report")
  p50=$(awk '$1=="50%" {print $2}' <<<"$report")
  p99=$(awk '$1=="99%" {print $2}' <<<"$report")
  # The server's CPU time (user + system, all its threads) per request,
  # the share of core 0 the hypervisor took away during the run, and how
  # long wrk's core sat idle (see docs/performance.md on why it matters).
  local cpu_us steal_pct idle_pct
  cpu_us=$(awk -v t="$((cpu1 - cpu0))" -v hz="$clk" -v n="$requests" 'BEGIN {printf "%.2f", t * 1e6 / hz / n}')
  steal_pct=$(awk -v t="$((steal1 - steal0))" -v hz="$clk" -v s="$seconds" 'BEGIN {printf "%.1f", 100 * t / hz / s}')
  idle_pct=$(awk -v t="$((idle1 - idle0))" -v hz="$clk" -v s="$seconds" 'BEGIN {printf "%.0f", 100 * t / hz / s}')
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $((after - before)) $requests $cpu_us $steal_pct $idle_pct"
}

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
steal_ticks() { awk '$1 == "cpu0" {print $9}' /proc/stat; }
idle_ticks() { awk '$1 == "cpu1" {print $5}' /proc/stat; }

to_ms() { # wrk prints 1.23ms, 456.00us or 1.20s
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
    else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
    else { printf "%s", v } }'
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

variants="bare ops quiet live"
if [ -n "${BASELINE_BIN:-}" ]; then
  [ -x "$BASELINE_BIN" ] || { echo "BASELINE_BIN is not an executable: $BASELINE_BIN" >&2; exit 1; }
  variants="$variants baseline"
fi
compared=${variants#bare }
n_compared=$(wc -w <<<"$compared")
for variant in $variants; do : >"$out/$variant.txt"; done
: >"$out/ratios.txt"
for round in $(seq 1 "$rounds"); do
  for variant in $variants; do
    result=$(run_one "$variant")
    echo "$result" >>"$out/$variant.txt"
    echo "round $round $variant: rps=$(cut -d' ' -f1 <<<"$result") p50=$(cut -d' ' -f2 <<<"$result")ms p99=$(cut -d' ' -f3 <<<"$result")ms cpu/request=$(cut -d' ' -f6 <<<"$result")us steal=$(cut -d' ' -f7 <<<"$result")% wrk-core-idle=$(cut -d' ' -f8 <<<"$result")%" >&2
    if [ "$variant" = ops ] || [ "$variant" = live ] || [ "$variant" = baseline ]; then
      read -r _ _ _ lines requests _ <<<"$result"
      # wrk counts completed responses; the server may have logged a few
      # more (responses wrk cut off at the deadline), never fewer.
      if [ "$lines" -lt "$requests" ]; then
        echo "LOST LINES: $lines [METRICS] lines for $requests requests" >&2; exit 1
      fi
    fi
  done
  # This round's ratios to bare axum: each compared server by requests/s,
  # then the same by CPU time per request (bare's over the variant's).
  bare_rps=$(tail -1 "$out/bare.txt" | cut -d' ' -f1)
  bare_cpu=$(tail -1 "$out/bare.txt" | cut -d' ' -f6)
  for variant in $compared; do
    awk -v o="$(tail -1 "$out/$variant.txt" | cut -d' ' -f1)" -v b="$bare_rps" 'BEGIN {printf "%.1f ", 100 * o / b}'
  done >>"$out/ratios.txt"
  for variant in $compared; do
    awk -v o="$(tail -1 "$out/$variant.txt" | cut -d' ' -f6)" -v b="$bare_cpu" 'BEGIN {printf "%.1f ", 100 * b / o}'
  done >>"$out/ratios.txt"
  echo >>"$out/ratios.txt"
done

col() { cut -d' ' -f"$2" "$out/$1.txt" | median; }
ratio() { cut -d' ' -f"$1" "$out/ratios.txt" | median; }
cpu_ratio() { ratio "$(($1 + n_compared))"; }

echo
echo "medians of $rounds alternating rounds, ${seconds}s each, $conns connections, server on core 0, wrk on core 1"
echo
echo "| server | requests/s | p50 ms | p99 ms | % of bare axum (median of the rounds' ratios) |"
echo "|---|---:|---:|---:|---:|"
echo "| bare axum, GET /json | $(col bare 1) | $(col bare 2) | $(col bare 3) | 100 |"
echo "| ops-kit stack, GET /json, [METRICS] line on | $(col ops 1) | $(col ops 2) | $(col ops 3) | $(ratio 1) |"
echo "| ops-kit stack, GET /json, line filtered out | $(col quiet 1) | $(col quiet 2) | $(col quiet 3) | $(ratio 2) |"
echo "| ops-kit liveness probe, GET /api/health/live, line on | $(col live 1) | $(col live 2) | $(col live 3) | $(ratio 3) |"
if [ -n "${BASELINE_BIN:-}" ]; then
  echo "| baseline build of the stack, GET /json, line on | $(col baseline 1) | $(col baseline 2) | $(col baseline 3) | $(ratio 4) |"
fi
echo
echo "| server | CPU per request (user + system, µs) | % of bare axum's requests per CPU-second (median of the rounds' ratios) | core 0 stolen by the hypervisor | wrk's core idle |"
echo "|---|---:|---:|---:|---:|"
echo "| bare axum, GET /json | $(col bare 6) | 100 | $(col bare 7) % | $(col bare 8) % |"
echo "| ops-kit stack, GET /json, [METRICS] line on | $(col ops 6) | $(cpu_ratio 1) | $(col ops 7) % | $(col ops 8) % |"
echo "| ops-kit stack, GET /json, line filtered out | $(col quiet 6) | $(cpu_ratio 2) | $(col quiet 7) % | $(col quiet 8) % |"
echo "| ops-kit liveness probe, GET /api/health/live, line on | $(col live 6) | $(cpu_ratio 3) | $(col live 7) % | $(col live 8) % |"
if [ -n "${BASELINE_BIN:-}" ]; then
  echo "| baseline build of the stack, GET /json, line on | $(col baseline 6) | $(cpu_ratio 4) | $(col baseline 7) % | $(col baseline 8) % |"
  # Each round's stack against that round's baseline build: the pairing
  # cancels what the host's speed did to the round as a whole.
  paired=$(paste -d' ' <(cut -d' ' -f1 "$out/ops.txt") <(cut -d' ' -f1 "$out/baseline.txt") |
    awk '{printf "%.1f\n", 100 * $1 / $2}')
  echo
  echo "this build against the baseline build, requests/s, round by round: $(tr '\n' ' ' <<<"$paired")(median $(median <<<"$paired") %)"
fi
[ -n "${LOG_DIR:-}" ] || rm -rf "$logs"
