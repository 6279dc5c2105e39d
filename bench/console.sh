#!/usr/bin/env bash
# The console's pages beside the JSON API, under concurrent load on
# loopback, PostgreSQL, for the demo shop with 100,000 leads: the board
# (`GET /`, six columns of 25 cards plus the pipeline totals), the lead
# list (`GET /leads`, a page of 50) and the API's lead list
# (`GET /api/crm/leads?limit=50`), in turn, round after round, against the
# release binary connected as an ordinary role (Row-Level Security
# applies). Then the weight of each page: its HTML (for the 100,000-lead
# shop and for an empty one) and the stylesheet and script it loads.
#
#   bench/console.sh [rounds] [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/crm.sh

rounds=${1:-3}
seconds=${2:-10}
conns=${3:-32}
admin=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db=crm_console_bench
role=crm_console_bench_app
out=bench/results
mkdir -p "$out"

command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q -p crm-app
bin=target/release/crm-app

crm_fresh_db "$admin" "$db" "$role"

log="$out/console-server.log"
APP_ENV=development JWT_SECRET='k9#Vq2!mZr7&Lp4@Xw8^Tn1*Hs6(Bj3)' DATABASE_URL="$app_url" \
  MIGRATION_DATABASE_URL="$owner_url" HOST=127.0.0.1 PORT=0 LOG_LEVEL=info,ops_kit::metrics=off \
  "$bin" >"$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true' EXIT
base=$(crm_base "$log")
psql "$owner_url" -q -f bench/lib/leads_100k.sql >/dev/null

# sign_in EMAIL PASSWORD: a console session cookie (through the sign-in
# form, with its pre-session CSRF token).
sign_in() {
  local jar token
  jar=$(mktemp)
  token=$(curl -sf -c "$jar" "$base/sign-in" | grep -oE 'name="csrf_token" value="[^"]+"' | sed -E 's/.*value="([^"]+)"/\1/')
  curl -sf -b "$jar" -c "$jar" -o /dev/null -H "origin: $base" \
    --data-urlencode "csrf_token=$token" --data-urlencode "email=$1" --data-urlencode "password=$2" "$base/sign-in"
  awk '$6 == "session" {print "session=" $7}' "$jar"
  rm -f "$jar"
}
COOKIE=$(sign_in admin@cutlist.pro admin123)
[ -n "$COOKIE" ] || { echo "could not sign in" >&2; exit 1; }
TOKEN=$(crm_token "$base")

cards=$(curl -sf "$base/" -H "cookie: $COOKIE" | grep -o 'class="card' | wc -l)
[ "$cards" -ge 100 ] || { echo "the board shows $cards cards" >&2; exit 1; }

wrk_one() { # conns url header -> "rps p99"
  local report
  wrk -t1 -c"$1" -d1s -H "$3" "$2" >/dev/null
  report=$(wrk -t1 -c"$1" -d"${seconds}s" --latency -H "$3" "$2")
  if grep -qE "Non-2xx|Socket errors" <<<"$report"; then echo "$report" >&2; exit 1; fi
  echo "$(awk '/^Requests\/sec/ {print $2}' <<<"$report") $(awk '$1=="99%" {print $2}' <<<"$report")"
}

declare -A url=([board]="$base/" [list]="$base/leads" [api]="$base/api/crm/leads?limit=50")
declare -A auth=([board]="cookie: $COOKIE" [list]="cookie: $COOKIE" [api]="authorization: Bearer $TOKEN")
for name in board list api; do : >"$out/console-$name.txt"; done
for round in $(seq 1 "$rounds"); do
  for name in board list api; do
    result=$(wrk_one "$conns" "${url[$name]}" "${auth[$name]}")
    echo "$result" >>"$out/console-$name.txt"
    echo "round $round $name: $result"
  done
done

median_row() { sort -g "$1" | sed -n "$(( (rounds + 1) / 2 ))p"; }
echo
echo "median of $rounds rounds of ${seconds}s at $conns connections (requests/s, p99):"
for name in board list api; do echo "  $name: $(median_row "$out/console-$name.txt")"; done

# Page weight: bytes before compression.
size() { curl -sf -o /dev/null -w '%{size_download}' "$@"; }
css=$(grep -oE '/assets/console\.[0-9a-f]+\.css' <(curl -sf "$base/sign-in"))
js=$(grep -oE '/assets/console\.[0-9a-f]+\.js' <(curl -sf "$base/sign-in"))
empty_token=$(curl -sf "$base/api/auth/register" -H 'content-type: application/json' \
  -d '{"tenantName":"Empty Shop","name":"Erin Empty","email":"erin@empty.example","password":"a long enough password"}' >/dev/null && echo ok)
[ "$empty_token" = ok ] || { echo "could not register the empty shop" >&2; exit 1; }
EMPTY=$(sign_in erin@empty.example 'a long enough password')
echo
echo "page weight (bytes, uncompressed):"
echo "  console.css: $(size "$base$css")   console.js: $(size "$base$js")"
echo "  sign-in: $(size "$base/sign-in")"
echo "  board: $(size -H "cookie: $COOKIE" "$base/") with 100,000 leads, $(size -H "cookie: $EMPTY" "$base/") empty"
echo "  leads: $(size -H "cookie: $COOKIE" "$base/leads") with 100,000 leads, $(size -H "cookie: $EMPTY" "$base/leads") empty"
lead=$(curl -sf "$base/api/crm/leads?limit=1" -H "authorization: Bearer $TOKEN" | grep -oE '"id":"[^"]+"' | head -1 | cut -d'"' -f4)
echo "  lead: $(size -H "cookie: $COOKIE" "$base/leads/$lead")"
