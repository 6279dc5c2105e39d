#!/usr/bin/env bash
# crm-app from process start to a 200 from /api/health/ready on a fresh
# embedded SQLite file (development defaults: migrations and the demo seed
# included), and its resident memory once ready and idle.
#
#   bench/startup.sh [runs]
#
# MALLOC_MMAP_THRESHOLD_=131072 (set in deploy/Dockerfile) keeps glibc from
# holding on to the password hash's 19 MiB working memory; run with
# GLIBC_DEFAULTS=1 to measure without it.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
cargo build --release -q -p crm-app
bin=$PWD/target/release/crm-app
port=39517
: >bench/results/startup.txt
for run in $(seq 1 "$runs"); do
  dir=$(mktemp -d)
  start=$(date +%s%N)
  if [ "${GLIBC_DEFAULTS:-}" = 1 ]; then malloc=(); else malloc=(MALLOC_MMAP_THRESHOLD_=131072); fi
  (cd "$dir" && exec env ${malloc[@]+"${malloc[@]}"} PORT=$port LOG_LEVEL=warn "$bin" >/dev/null 2>&1) &
  pid=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/health/ready")" = 200 ]; do
    sleep 0.002
  done
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep 1
  rss=$(awk '$1=="VmRSS:" {print int($2/1024)}' "/proc/$(pgrep -P "$pid" crm-app || echo "$pid")/status" 2>/dev/null || echo "?")
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
  echo "$ms $rss" >>bench/results/startup.txt
  echo "run $run: ready in $ms ms, idle RSS $rss MiB" >&2
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "start-up to ready (median of $runs): $(cut -d' ' -f1 bench/results/startup.txt | median) ms; idle RSS: $(cut -d' ' -f2 bench/results/startup.txt | median) MiB"
