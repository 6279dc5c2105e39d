#!/usr/bin/env bash
# Every benchmark of docs/performance.md, in one go (about 10 minutes):
# the ops-kit overhead against bare axum, the CRM API (list, audited
# upsert against pgbench, a mixed workload, memory), start-up time, and one
# instance against two.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
bench/ops_overhead.sh 5 10 32
bench/crm_api.sh 5 10 32 32
bench/startup.sh 5
bench/scale_out.sh 3 10
