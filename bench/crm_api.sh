#!/usr/bin/env bash
# The CRM API under concurrent load on loopback, PostgreSQL: the lead list
# (first page of 50, from a tenant with 100,000 leads) and the audited lead
# upsert (a web form creating a lead), alternating, against the release
# binary connected as an ordinary role (Row-Level Security applies). Then
# pgbench runs the upsert's two inserts (lead + audit entry with its chain
# link) in one transaction on the same database: the database's own limit.
#
#   bench/crm_api.sh [rounds] [seconds] [list-connections] [upsert-connections]
#
# Nothing is pinned: the server, PostgreSQL and the load generator share
# the machine's two cores as a single-box installation would (wrk and
# pgbench take their share of it too, so the figures are conservative).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/crm.sh

rounds=${1:-3}
seconds=${2:-10}
list_conns=${3:-32}
upsert_conns=${4:-32}
admin=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=crm_bench
role=crm_bench_app
out=bench/results
mkdir -p "$out"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p crm-app
bin=target/release/crm-app

crm_fresh_db "$admin" "$db" "$role"

log="$out/crm-server.log"
MALLOC_MMAP_THRESHOLD_=131072 APP_ENV=development JWT_SECRET='k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)' DATABASE_URL="$app_url" \
  MIGRATION_DATABASE_URL="$owner_url" HOST=127.0.0.1 PORT=0 LOG_LEVEL=info,ops_kit::metrics=off \
  "$bin" >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true' EXIT
base=$(crm_base "$log")

# 100,000 leads for the demo shop, spread over a year, every status.
psql "$owner_url" -q -f bench/lib/leads_100k.sql >/dev/null

TOKEN=$(crm_token "$base")
export TOKEN
count=$(curl -sf "$base/api/crm/leads?limit=50" -H "authorization: Bearer $TOKEN" | grep -o '"id"' | wc -l)
[ "$count" = 50 ] || { echo "the list answered $count leads" >&2; exit 1; }

wrk_one() { # name conns script url -> "rps p50 p99 p99.9"
  local report
  wrk -t1 -c"$2" -d1s -s "$3" "$4" >/dev/null
  report=$(wrk -t1 -c"$2" -d"${seconds}s" --latency -s "$3" "$4")
  if grep -qE "Non-2xx|Socket errors" <<<"$report"; then echo "$report" >&2; exit 1; fi
  echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$report") $(awk '$1=="50%" {print $2}' <<<"$report") $(awk '$1=="99%" {print $2}' <<<"$report") $(awk '$1=="p99.9" {print $2}' <<<"$report")"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# The middle row of a results file by requests/s.
middle() { sort -g "$1" | sed -n "$(( (rounds + 1) / 2 ))p"; }

rss() { awk -v k="$1:" '$1==k {print int($2/1024) " MiB"}' "/proc/$pid/status"; }
idle_rss=$(rss VmRSS)
: >"$out/crm-list.txt"; : >"$out/crm-upsert.txt"; : >"$out/crm-pgbench.txt"; : >"$out/crm-mixed.txt"
for round in $(seq 1 "$rounds"); do
  r=$(wrk_one list "$list_conns" bench/crm_list.lua "$base/api/crm/leads?limit=50"); echo "$r" >>"$out/crm-list.txt"
  echo "round $round list: $r" >&2
  r=$(wrk_one upsert "$upsert_conns" bench/crm_upsert.lua "$base/api/crm/leads"); echo "$r" >>"$out/crm-upsert.txt"
  echo "round $round upsert: $r" >&2
  r=$(wrk_one mixed "$list_conns" bench/crm_mixed.lua "$base"); echo "$r" >>"$out/crm-mixed.txt"
  echo "round $round mixed: $r" >&2
  tps=$(pgbench -n -c "$upsert_conns" -j 1 -T "$seconds" -f bench/pg_lead_upsert.sql "$app_url" 2>/dev/null \
    | awk '/^tps/ {print $3; exit}')
  echo "$tps" >>"$out/crm-pgbench.txt"
  echo "round $round pgbench: $tps tps" >&2
done

list_rps=$(cut -d' ' -f1 "$out/crm-list.txt" | median); up_rps=$(cut -d' ' -f1 "$out/crm-upsert.txt" | median)

# The lead list at a fixed rate. wrk is closed-loop: each connection sends
# its next request when the previous one is answered, so at saturation its
# percentiles measure the queue wrk itself keeps full. oha (cargo install
# oha; OHA=path/to/oha) sends at a fixed rate instead, FIXED_RATE (default
# 50 %) of the list's throughput measured above, over the same 32
# connections, and with --latency-correction counts a request that had to
# wait for a free connection from when it was due.
oha=${OHA:-$(command -v oha || true)}
: >"$out/crm-list-fixed.txt"
if [ -n "$oha" ]; then
  rate=$(awk -v r="$list_rps" -v f="${FIXED_RATE:-0.5}" 'BEGIN {printf "%d", r * f}')
  for round in $(seq 1 "$rounds"); do
    report=$("$oha" -z "${seconds}s" -c "$list_conns" -q "$rate" --latency-correction --no-tui \
      --output-format json -H "authorization: Bearer $TOKEN" "$base/api/crm/leads?limit=50")
    # Requests cut off by the end of the run are not errors; anything else is.
    bad=$(jq '[.statusCodeDistribution | to_entries[] | select(.key != "200") | .value] | add // 0' <<<"$report")
    errors=$(jq '[.errorDistribution | to_entries[] | select(.key | test("deadline") | not) | .value] | add // 0' <<<"$report")
    [ "$bad" = 0 ] && [ "$errors" = 0 ] || { echo "fixed-rate list: $bad non-200 responses, $errors errors" >&2; jq . <<<"$report" >&2; exit 1; }
    r=$(jq -r 'def ms: . * 1e6 | round / 1000 | tostring + "ms";
      "\(.summary.requestsPerSec | round) \(.latencyPercentiles.p50 | ms) \(.latencyPercentiles.p99 | ms) \(.latencyPercentiles["p99.9"] | ms)"' <<<"$report")
    echo "$r" >>"$out/crm-list-fixed.txt"
    echo "round $round list at $rate requests/s: $r" >&2
  done
fi
pg_tps=$(median <"$out/crm-pgbench.txt")
ratio=$(awk -v a="$up_rps" -v p="$pg_tps" 'BEGIN {printf "%.2f", p / a}')
leads=$(psql "$owner_url" -tAc "select count(*) from leads")
echo
echo "medians of $rounds alternating rounds, ${seconds}s each; list at $list_conns connections, upserts at $upsert_conns"
echo
mixed_rps=$(cut -d' ' -f1 "$out/crm-mixed.txt" | median)
row() { middle "$1" | awk '{print $2 " | " $3 " | " $4}'; }
echo "| workload | requests/s | p50 | p99 | p99.9 |"
echo "|---|---:|---:|---:|---:|"
echo "| GET /api/crm/leads?limit=50 (100k leads) | $list_rps | $(row "$out/crm-list.txt") |"
echo "| POST /api/crm/leads (audited upsert, creates) | $up_rps | $(row "$out/crm-upsert.txt") |"
echo "| mixed CRM workload (bench/crm_mixed.lua) | $mixed_rps | $(row "$out/crm-mixed.txt") |"
echo "| pgbench: lead + audit inserts in one transaction | $pg_tps | | | |"
if [ -s "$out/crm-list-fixed.txt" ]; then
  # The rate is fixed, so each column's own median.
  fixed() { cut -d' ' -f"$1" "$out/crm-list-fixed.txt" | sed 's/ms$//' | median; }
  echo "| GET /api/crm/leads?limit=50 at a fixed $rate requests/s (oha, latency-corrected) | $(fixed 1) | $(fixed 2)ms | $(fixed 3)ms | $(fixed 4)ms |"
fi
echo
echo "database limit / upsert throughput: ${ratio}x (target: at most 2x)"
echo "upsert throughput: $(awk -v a="$up_rps" -v p="$pg_tps" 'BEGIN {printf "%.0f", 100 * a / p}')% of the pgbench limit (target: at least 50%)"
echo "leads at the end: $leads"
echo "crm-app resident memory: $idle_rss idle after start-up and seeding, $(rss VmHWM) at its peak"
kill -TERM $pid; wait $pid || true
trap - EXIT
# KEEP_DB=1 leaves the database for a closer look.
[ "${KEEP_DB:-}" = 1 ] || psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" >/dev/null
