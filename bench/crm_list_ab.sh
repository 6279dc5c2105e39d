#!/usr/bin/env bash
# The lead list (or the audited upsert) served by two builds of crm-app in turn, against the same
# database: a change to the list's code judged against the build before it
# in one run. Needs the database bench/crm_api.sh leaves behind with
# KEEP_DB=1 (100,000 leads or more for the demo shop).
#
#   KEEP_DB=1 bench/crm_api.sh 1 5          # once, to seed the database
#   bench/crm_list_ab.sh OLD_BIN NEW_BIN [rounds] [seconds] [connections]
#
# When NEW carries migrations OLD does not know, set NEW_DB=crm_bench_new:
# NEW then runs on a copy of the database made once from crm_bench (the
# copy keeps its migrations between runs; drop it to start over), so that
# OLD never meets a schema newer than its own.
#
# Each round runs OLD then NEW: 32 wrk connections on the first page of 50
# leads, closed-loop. WORKLOAD=upsert sends the audited lead upsert instead
# (bench/crm_upsert.lua: a web form creating a new lead each time; both
# builds add their leads to the same database, in turn). Besides requests/s and latency it reports the CPU
# time per request of crm-app (user and total) and of PostgreSQL's
# processes, from /proc.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/crm.sh

old=$1
new=$2
rounds=${3:-3}
seconds=${4:-10}
conns=${5:-32}
admin=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=crm_bench
role=crm_bench_app
new_db=${NEW_DB:-$db}
case ${WORKLOAD:-list} in
  list) script=bench/crm_list.lua; path="/api/crm/leads?limit=50" ;;
  upsert) script=bench/crm_upsert.lua; path=/api/crm/leads ;;
  *) echo "WORKLOAD is list or upsert" >&2; exit 1 ;;
esac
url_of() { echo "${admin%/*}/$1"; }
owner_url=$(url_of "$db")
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
psql "$owner_url" -qtAc "select 1" >/dev/null 2>&1 \
  || { echo "no $db database: run KEEP_DB=1 bench/crm_api.sh 1 5 first" >&2; exit 1; }
if [ "$new_db" != "$db" ] && ! psql "$(url_of "$new_db")" -qtAc "select 1" >/dev/null 2>&1; then
  psql "$admin" -qc "CREATE DATABASE $new_db TEMPLATE $db" >/dev/null
fi

hz=$(getconf CLK_TCK)
ticks() { awk '{print $14, $14 + $15}' "/proc/$1/stat"; } # user, user + system
postgres_ticks() {
  for p in $(pgrep -x postgres); do awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || true; done \
    | awk '{s += $1} END {print s + 0}'
}

one() { # binary database -> "rps p50 p99 app_user_us app_us postgres_us"
  local log; log=$(mktemp)
  MALLOC_MMAP_THRESHOLD_=131072 APP_ENV=development JWT_SECRET='k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)' \
    DATABASE_URL="postgres://$role@127.0.0.1:5432/$2" MIGRATION_DATABASE_URL="$(url_of "$2")" HOST=127.0.0.1 PORT=0 \
    LOG_LEVEL=info,ops_kit::metrics=off "$1" >"$log" 2>&1 &
  local pid=$! base
  base=$(crm_base "$log") || exit 1
  TOKEN=$(crm_token "$base")
  export TOKEN
  wrk -t1 -c"$conns" -d2s -s "$script" "$base$path" >/dev/null
  local a0 p0 a1 p1 report
  a0=$(ticks "$pid"); p0=$(postgres_ticks)
  report=$(wrk -t1 -c"$conns" -d"${seconds}s" --latency -s "$script" "$base$path")
  a1=$(ticks "$pid"); p1=$(postgres_ticks)
  kill -TERM "$pid"; wait "$pid" || true; rm -f "$log"
  if grep -qE "Non-2xx|Socket errors" <<<"$report"; then echo "$report" >&2; exit 1; fi
  local n; n=$(awk '/requests in/ {print $1}' <<<"$report")
  awk -v r="$(awk '/^Requests\/sec/ {print $2}' <<<"$report")" \
      -v p50="$(awk '$1=="50%" {print $2}' <<<"$report")" -v p99="$(awk '$1=="99%" {print $2}' <<<"$report")" \
      -v a0="$a0" -v a1="$a1" -v p0="$p0" -v p1="$p1" -v n="$n" -v hz="$hz" 'BEGIN {
        split(a0, x, " "); split(a1, y, " ")
        printf "%s %s %s %.0f %.0f %.0f\n", r, p50, p99, (y[1] - x[1]) * 1e6 / hz / n, (y[2] - x[2]) * 1e6 / hz / n, (p1 - p0) * 1e6 / hz / n
      }'
}

echo "| round | build | requests/s | p50 | p99 | crm-app CPU µs/request (user) | PostgreSQL CPU µs/request |"
echo "|---|---|---:|---:|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
  for build in old new; do
    bin=$old; base_db=$db; [ "$build" = new ] && bin=$new && base_db=$new_db
    read -r rps p50 p99 user total pg <<<"$(one "$bin" "$base_db")"
    echo "| $round | $build | $rps | $p50 | $p99 | $total ($user) | $pg |"
  done
done
