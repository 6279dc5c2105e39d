#!/usr/bin/env bash
# One crm-app instance against two sharing the same PostgreSQL and Redis:
# the lead list (50 per page, 100,000 leads) at 32 connections in total,
# all on one instance, or 16 on each of two (wrk per instance, started
# together: a client-side round robin). Alternating rounds, medians.
#
#   bench/scale_out.sh [rounds] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/crm.sh

rounds=${1:-3}
seconds=${2:-10}
admin=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
redis=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
db=crm_scale
role=crm_scale_app
out=bench/results
mkdir -p "$out"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p crm-app
bin=target/release/crm-app

crm_fresh_db "$admin" "$db" "$role"

# Each server's pid goes to a file: start runs in a command substitution.
stop_all() { for f in "$out"/scale-*.pid; do [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null; rm -f "$f"; done; }
start() { # n -> base url
  local log="$out/scale-server-$1.log"
  APP_ENV=development JWT_SECRET='k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)' DATABASE_URL="$app_url" REDIS_URL="$redis" \
    MIGRATION_DATABASE_URL="$owner_url" HOST=127.0.0.1 PORT=0 LOG_LEVEL=info,ops_kit::metrics=off \
    "$bin" >"$log" 2>&1 &
  echo $! >"$out/scale-$1.pid"
  crm_base "$log"
}
trap stop_all EXIT
a=$(start a)
b=$(start b)

psql "$owner_url" -q >/dev/null <<'SQL'
INSERT INTO leads (tenant_id, id, external_id, name, source, project_type, tags, status, status_changed_at, created_at, updated_at, version)
SELECT '00000000-0000-4000-8000-000000000001', gen_random_uuid(), 'seed-' || g, 'Customer ' || g, 'web_form', 'kitchen',
    '[]', 'new', t, t, t, 1
FROM generate_series(1, 100000) AS g, LATERAL (SELECT now() - make_interval(secs => g * 315) AS t) AS at;
ANALYZE;
SQL
redis-cli -u "$redis" --scan --pattern 'crm:login-attempts:*' 2>/dev/null | xargs -r redis-cli -u "$redis" DEL >/dev/null 2>&1 || true
TOKEN=$(crm_token "$a")
export TOKEN

report() { # wrk output -> "rps p50 p99"
  echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$1") $(awk '$1=="50%" {print $2}' <<<"$1") $(awk '$1=="99%" {print $2}' <<<"$1")"
}
ms() { sed -E 's/ms$//; s/^([0-9.]+)us$/0.00\1/; s/^([0-9.]+)s$/\1000/' <<<"$1"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: >"$out/scale-one.txt"; : >"$out/scale-two.txt"
for round in $(seq 1 "$rounds"); do
  one=$(wrk -t1 -c32 -d"${seconds}s" --latency -s bench/crm_list.lua "$a/api/crm/leads?limit=50")
  r=$(report "$one"); echo "$r" >>"$out/scale-one.txt"; echo "round $round one instance: $r" >&2
  wrk -t1 -c16 -d"${seconds}s" --latency -s bench/crm_list.lua "$a/api/crm/leads?limit=50" >"$out/scale-wa.txt" &
  wrk -t1 -c16 -d"${seconds}s" --latency -s bench/crm_list.lua "$b/api/crm/leads?limit=50" >"$out/scale-wb.txt"
  wait
  ra=$(report "$(cat "$out/scale-wa.txt")"); rb=$(report "$(cat "$out/scale-wb.txt")")
  sum=$(awk -v x="${ra%% *}" -v y="${rb%% *}" 'BEGIN {printf "%.2f", x + y}')
  p99=$(awk -v x="$(ms "$(cut -d' ' -f3 <<<"$ra")")" -v y="$(ms "$(cut -d' ' -f3 <<<"$rb")")" 'BEGIN {print (x > y ? x : y)}')
  p50=$(awk -v x="$(ms "$(cut -d' ' -f2 <<<"$ra")")" -v y="$(ms "$(cut -d' ' -f2 <<<"$rb")")" 'BEGIN {print (x > y ? x : y)}')
  echo "$sum ${p50}ms ${p99}ms" >>"$out/scale-two.txt"; echo "round $round two instances: $sum ${p50}ms ${p99}ms" >&2
  if grep -qE "Non-2xx|Socket errors" <<<"$one" || grep -qE "Non-2xx|Socket errors" "$out/scale-wa.txt" "$out/scale-wb.txt"; then
    echo "a run had errors" >&2; exit 1
  fi
done
middle() { sort -g "$1" | sed -n "$(( (rounds + 1) / 2 ))p"; }
echo
echo "| instances | requests/s | p50 | p99 |"
echo "|---|---:|---:|---:|"
echo "| 1 (32 connections) | $(cut -d' ' -f1 "$out/scale-one.txt" | median) | $(middle "$out/scale-one.txt" | cut -d' ' -f2) | $(middle "$out/scale-one.txt" | cut -d' ' -f3) |"
echo "| 2 (16 connections each) | $(cut -d' ' -f1 "$out/scale-two.txt" | median) | $(middle "$out/scale-two.txt" | cut -d' ' -f2) | $(middle "$out/scale-two.txt" | cut -d' ' -f3) |"
stop_all
trap - EXIT
psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" >/dev/null
