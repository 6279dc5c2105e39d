#!/usr/bin/env bash
# Throughput of the same insert handler without and with #[audited] on the
# same PostgreSQL database, in one run, alternating.
#
#   bench/audit_overhead.sh [rounds] [seconds] [connections] [tenants]
#
# Both servers run the full ops-kit stack with one request transaction per
# request, each request acting for one of `tenants` tenants in turn (so both
# pay for the tenant setting); the audited one adds the audit entry and its
# hash-chain link in the same transaction. Each tenant's chain is one
# sequence, so one tenant's audited writes take turns: `tenants=1` measures
# that worst case. Server on core 0, wrk on core 1, PostgreSQL wherever the
# scheduler puts it (it needs both cores at times: that is the point).
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-5}
seconds=${2:-10}
conns=${3:-16}
tenants=${4:-100}
admin=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=ops_kit_bench_audit
out=bench/results
mkdir -p "$out"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p ops-kit-bench
bin=target/release/ops-kit-bench

psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
url="${admin%/*}/$db"

run_one() { # variant -> "rps p50 p99"
  local variant=$1 log="$out/server-$1.log"
  : >"$log"
  BENCH_TENANTS=$tenants DATABASE_URL=$url LOG_LEVEL=info,ops_kit::metrics=off taskset -c 0 "$bin" "$variant" 0 >"$log" 2>&1 &
  local pid=$!
  local port=""
  for _ in $(seq 1 100); do
    port=$(grep -oE 'Listening on http://[0-9.]+:[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
    [ -n "$port" ] && grep -q "Ready in" "$log" && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$log" >&2; exit 1; }
  taskset -c 1 wrk -t1 -c"$conns" -d1s -s bench/post_item.lua "http://127.0.0.1:$port/items" >/dev/null
  local report; report=$(taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --latency -s bench/post_item.lua "http://127.0.0.1:$port/items")
  kill -TERM "$pid"; wait "$pid" || true
  if grep -qE "Non-2xx|Socket errors" <<<"$report"; then echo "$report" >&2; exit 1; fi
  echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$report") $(awk '$1=="50%" {print $2}' <<<"$report") $(awk '$1=="99%" {print $2}' <<<"$report")"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

: >"$out/insert.txt"; : >"$out/insert-audited.txt"
for round in $(seq 1 "$rounds"); do
  for variant in insert insert-audited; do
    result=$(run_one "$variant")
    echo "$result" >>"$out/$variant.txt"
    echo "round $round $variant: $result" >&2
  done
done

# The database's own limit for the same statements, from pgbench on the
# same database and core, alternating too.
: >"$out/pg-insert.txt"; : >"$out/pg-insert-audited.txt"
for round in $(seq 1 "$rounds"); do
  for script in pg_insert pg_insert_audited; do
    tps=$(taskset -c 1 pgbench -n -c "$conns" -j 1 -T "$seconds" -f "bench/$script.sql" "$url" 2>/dev/null \
      | awk '/^tps/ {print $3; exit}')
    echo "$tps" >>"$out/${script//_/-}.txt"
    echo "round $round pgbench $script: $tps tps" >&2
  done
done
g_plain=$(median <"$out/pg-insert.txt"); g_audit=$(median <"$out/pg-insert-audited.txt")
g_ratio=$(awk -v a="$g_audit" -v p="$g_plain" 'BEGIN {printf "%.1f", 100 * a / p}')

p_rps=$(cut -d' ' -f1 "$out/insert.txt" | median); a_rps=$(cut -d' ' -f1 "$out/insert-audited.txt" | median)
ratio=$(awk -v a="$a_rps" -v p="$p_rps" 'BEGIN {printf "%.1f", 100 * a / p}')
rows=$(psql "$url" -tAc "select count(*) from audit_logs")
heads=$(psql "$url" -tAc "select count(*) from audit_chain_heads")
intact=$(psql "$url" -tAc "select count(*) from audit_chain_heads h where h.seq = (select max(seq) from audit_logs l where l.tenant_key = h.tenant_key)")
echo
echo "medians of $rounds alternating rounds, ${seconds}s each, $conns connections, $tenants tenant(s)"
echo
echo "| handler | requests/s | p50 | p99 |"
echo "|---|---:|---:|---:|"
echo "| insert in a request transaction | $p_rps | $(sort "$out/insert.txt" | awk '{print $2}' | sed -n "$(( (rounds+1)/2 ))p") | $(sort "$out/insert.txt" | awk '{print $3}' | sed -n "$(( (rounds+1)/2 ))p") |"
echo "| the same, #[audited] | $a_rps | $(sort "$out/insert-audited.txt" | awk '{print $2}' | sed -n "$(( (rounds+1)/2 ))p") | $(sort "$out/insert-audited.txt" | awk '{print $3}' | sed -n "$(( (rounds+1)/2 ))p") |"
echo "| pgbench: the unaudited statements | $g_plain | | |"
echo "| pgbench: the audited statements | $g_audit | | |"
echo
echo "audited throughput: ${ratio}% of unaudited over HTTP; the database alone: ${g_ratio}%"
echo "audit rows: $rows written by the server and pgbench, chains: $heads, of which consistent with their last entry: $intact"
psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
