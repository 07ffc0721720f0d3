#!/usr/bin/env bash
# Query benchmark: latency of a get, a count and the indexed queries over 1,000,000 runs in 1,000 flows.
#
#   bench/query.sh                 # RUNS=1000000 FLOWS=1000 DURATION=10 by default
#   RUNS=100000 DURATION=3 bench/query.sh    # a quick look
#
# Builds the release binaries, fills $DATA (default /tmp/runhub-bench-query, reused when it already
# holds the dataset) through the store's bulk path (crates/store/examples/bulk_load.rs: the rows the
# service itself would write), prints the SQL and EXPLAIN QUERY PLAN of every query
# (crates/store/examples/query_plan.rs), starts `runhub serve` and measures each query with wrk, one
# connection (sequential requests: latency, not throughput), for $DURATION seconds, after a warm-up.
# Prints p50/p99 per query as a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1000000}
FLOWS=${FLOWS:-1000}
DURATION=${DURATION:-10}
DATA=${DATA:-/tmp/runhub-bench-query}
PORT=${PORT:-18093}
BASE="http://127.0.0.1:$PORT/beta/industryData"

command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
cargo build --release --bin runhub 2>&1 | tail -1
cargo build --release -p runhub-store --example bulk_load --example query_plan 2>&1 | tail -1

if [ ! -f "$DATA/dataset.json" ] || [ "$(cat "$DATA/.runs" 2>/dev/null)" != "$RUNS/$FLOWS" ]; then
  rm -rf "$DATA"
  ./target/release/examples/bulk_load "$DATA" "$RUNS" "$FLOWS"
  echo "$RUNS/$FLOWS" > "$DATA/.runs"
fi

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
FLOW=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["flows"][7])' "$DATA/dataset.json")
# A one-day window a month ago (≈ RUNS/365 rows).
read -r FROM TO < <(python3 -c '
import datetime as d
now = d.datetime.now(d.timezone.utc).replace(microsecond=0)
a = now - d.timedelta(days=30)
print(a.strftime("%Y-%m-%dT%H:%M:%SZ"), (a + d.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))')
DEEP=$((RUNS / 2))

# name | $filter | $orderby | extra options | query_plan flags
QUERIES=(
  "first page (default order)|-|-||"
  "status eq 'failed', newest first|status eq 'failed'|startDateTime desc||"
  "startDateTime range (1 day)|startDateTime ge $FROM and startDateTime lt $TO|-||"
  "process/id eq X, newest first|process/id eq '$FLOW'|startDateTime desc||"
  "\$count=true with status eq 'failed'|status eq 'failed'|-|\$count=true|--count"
  "contains(displayName,'x') (common: page order)|contains(displayName,'x')|-||"
  "contains(displayName,'roster 743') (rare: name index)|contains(displayName,'roster 743')|-||"
  "contains(displayName,'zzz') (no match: name index)|contains(displayName,'zzz')|-||"
)

echo "== query plans"
for q in "${QUERIES[@]}"; do
  IFS='|' read -r name filter orderby extra flags <<<"$q"
  echo "-- $name"
  # shellcheck disable=SC2086
  ./target/release/examples/query_plan "$DATA" "$filter" "$orderby" $flags | grep PLAN
done
echo "-- deep page (\$skiptoken at row $DEEP)"
./target/release/examples/query_plan "$DATA" - - --after-offset "$DEEP" | grep PLAN

./target/release/runhub serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >/tmp/runhub-bench-query.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
# query_plan brought the run-name index up to date; wait for the server to catch up with anything
# written since, as it does a quarter of a second after writes.
python3 - "$DATA/runhub.sqlite3" <<'EOF'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
for _ in range(600):
    if db.execute("SELECT through = (SELECT COALESCE(MAX(rowid), 0) FROM runs) FROM run_names_indexed").fetchone()[0]:
        break
    time.sleep(0.5)
EOF

url_of() {
  local filter=$1 orderby=$2 extra=$3 q="\$top=100"
  [ "$filter" != "-" ] && q="$q&\$filter=$(enc "$filter")"
  [ "$orderby" != "-" ] && q="$q&\$orderby=$(enc "$orderby")"
  [ -n "$extra" ] && q="$q&$extra"
  echo "$BASE/runs?$q"
}

# wrk's --latency distribution: the 50% and 99% lines, in ms.
measure() {
  local name=$1 url=$2
  curl -sf "$url" -o /dev/null || { echo "FAILED: $url" >&2; curl -s "$url" >&2; exit 1; }
  wrk -t1 -c1 -d2s --timeout 30s "$url" >/dev/null # warm-up
  local out
  out=$(wrk -t1 -c1 -d"${DURATION}s" --timeout 30s --latency "$url")
  python3 - "$name" "$out" <<'EOF'
import re, sys
name, out = sys.argv[1], sys.argv[2]
def ms(label):
    m = re.search(r"^\s*" + label + r"\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
reqs = re.search(r"(\d+) requests in", out).group(1)
print(f"| {name} | {ms('50%'):.2f} | {ms('99%'):.2f} | {reqs} |")
EOF
}

echo
echo "== $(date -u +%FT%TZ), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg), commit $(git rev-parse --short HEAD)$(git diff --quiet || echo '+changes')"
echo "== latency: wrk -t1 -c1 -d${DURATION}s --latency, \$top=100, $RUNS runs in $FLOWS flows"
echo "| query | p50 ms | p99 ms | requests |"
echo "|---|---:|---:|---:|"
for q in "${QUERIES[@]}"; do
  IFS='|' read -r name filter orderby extra flags <<<"$q"
  measure "$name" "$(url_of "$filter" "$orderby" "$extra")"
done
# One run by id, and the collection's size (answered from the stored counts).
RUN=$(python3 -c 'import json, sys; d = json.load(open(sys.argv[1]))["runs"]; print(d[len(d) // 2])' "$DATA/dataset.json")
measure "get one run by id" "$BASE/runs/$RUN"
measure "/runs/\$count" "$BASE/runs/\$count"
# The deep page: the nextLink of the page at $skip=DEEP carries a keyset token for that position.
DEEP_URL=$(curl -sf "$BASE/runs?\$top=100&\$skip=$DEEP" | python3 -c 'import json, sys; print(json.load(sys.stdin)["@odata.nextLink"])')
measure "deep page via \$skiptoken (row $DEEP)" "$DEEP_URL"
FAILED_DEEP=$(curl -sf "$BASE/runs?\$top=100&\$skip=$((DEEP / 10))&\$filter=$(enc "status eq 'failed'")&\$orderby=$(enc "startDateTime desc")" | python3 -c 'import json, sys; print(json.load(sys.stdin)["@odata.nextLink"])')
measure "status eq 'failed', deep page via \$skiptoken (row $((DEEP / 10)))" "$FAILED_DEEP"
