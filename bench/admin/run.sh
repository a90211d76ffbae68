#!/usr/bin/env bash
# The admin UI on a large store (issue 22 point 4): N customers with an order each (imported
# with `aftercare import`, bench/import's generator) and M sent messages spread over the last
# year (written straight into PostgreSQL with generate_series, the way a year of programmes
# leaves them), an audience, a planned campaign; then every admin page is asked for REPEAT
# times by a signed-in editor with curl, one after another, and each page's p50, p95 and
# largest answer time is printed. The target is under 500 ms at p95 for every page.
# There is no peer to run beside it; listmonk's docs say its admin pages take tens of
# seconds at millions of subscribers.
# Usage: bench/admin/run.sh [N] [M] [REPEAT]   (default 1000000 10000000 20)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
M=${2:-10000000}
REPEAT=${3:-20}
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}
cargo build --release -q -p aftercare-aftercare --bin aftercare
BIN=$PWD/target/release/aftercare
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
W=$(mktemp -d); chmod 755 "$W"
PORT=55444
HTTP=18744
cleanup() {
  [ -n "${SERVE:-}" ] && kill "$SERVE" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
python3 bench/import/generate.py "$N" "$W" >/dev/null
install -d -o postgres -g postgres "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
  -o "-p $PORT -k $W/pg -c listen_addresses=127.0.0.1 -c shared_buffers=1GB" start >/dev/null
PSQL="psql -h 127.0.0.1 -p $PORT -U postgres -qAt"
$PSQL -c 'CREATE DATABASE aftercare_admin'
export AFTERCARE_DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/aftercare_admin
export AFTERCARE_LISTEN=127.0.0.1:$HTTP AFTERCARE_LOG=warn
export AFTERCARE_PROGRAMMES_DIR=$PWD/programmes AFTERCARE_TEMPLATES_DIR=$PWD/programmes/templates
"$BIN" migrate >/dev/null
s=$(date +%s)
for kind in products customers orders; do "$BIN" import "$kind" "$W/$kind.jsonl" >/dev/null 2>&1; done
echo "imported $N customers and their orders in $(( $(date +%s) - s )) s" >&2

# A year of sent messages (bench/admin/messages.sql; the test suite runs it at a tiny size).
s=$(date +%s)
{ echo "SET synchronous_commit = off;"
  sed -e "s/{N}/$N/g" -e "s/{M}/$M/g" bench/admin/messages.sql
  echo "ANALYZE;"; } | $PSQL -d aftercare_admin
echo "wrote $M messages in $(( $(date +%s) - s )) s" >&2

echo 'a long enough password' | "$BIN" user create --username bench --role editor >/dev/null
"$BIN" serve --no-worker >"$W/serve.log" 2>&1 &
SERVE=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$HTTP/admin/sign-in" >/dev/null && break; sleep 0.1; done
jar=$W/cookies
curl -s -c "$jar" -o /dev/null -d 'username=bench&password=a+long+enough+password&next=/admin/campaigns' \
  "http://127.0.0.1:$HTTP/admin/sign-in"
csrf=$(curl -s -b "$jar" "http://127.0.0.1:$HTTP/admin/campaigns" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"//')
curl -s -b "$jar" -o /dev/null --data-urlencode "csrf=$csrf" -d 'id=nl-customers&name=Dutch+customers' \
  --data-urlencode "definition=customer.locale == 'nl-NL'" "http://127.0.0.1:$HTTP/admin/audiences"
DAY=$(date -u -d '+2 days' +%F)
campaign=$(curl -s -b "$jar" -o /dev/null -w '%{redirect_url}' --data-urlencode "csrf=$csrf" \
  -d "name=Autumn&template=inspiration&audience=nl-customers&class=promotional&channels=email&send_on=$DAY&local_time=10:00&holdout_percent=10&attribution_days=7" \
  "http://127.0.0.1:$HTTP/admin/campaigns" | sed 's|.*/||')
customer=$($PSQL -d aftercare_admin -c "SELECT id FROM customers ORDER BY id OFFSET $((N / 2)) LIMIT 1")
external=$($PSQL -d aftercare_admin -c "SELECT external_id FROM customers WHERE id = $customer")

PAGES=(
  "/admin/customers"
  "/admin/customers?q=$external"
  "/admin/customers?q=c$((N / 3))@example.nl"
  "/admin/customers/$external"
  "/admin/programmes"
  "/admin/programmes/after-purchase"
  "/admin/templates"
  "/admin/templates/order_confirmation"
  "/admin/audiences"
  "/admin/audiences/nl-customers"
  "/admin/campaigns"
  "/admin/campaigns/$campaign"
  "/admin/dashboards"
  "/admin/outbox"
  "/admin/audit"
  "/admin/simulator"
)
for page in "${PAGES[@]}"; do
  # The first look starts the page's background figures (dashboards, an audience's count,
  # a draft's dry run) and waits at most three seconds; until they are there the page says
  # so and refreshes itself. How long they took is printed, then the page is timed.
  s=$(date +%s.%N)
  code=$(curl -s -b "$jar" -o "$W/page" -w '%{http_code}' "http://127.0.0.1:$HTTP$page")
  [ "$code" = 200 ] || { echo "$page answered $code" >&2; tail -5 "$W/serve.log" >&2; exit 1; }
  for _ in $(seq 1200); do
    grep -q 'http-equiv="refresh"' "$W/page" || break
    sleep 0.5
    curl -s -b "$jar" -o "$W/page" "http://127.0.0.1:$HTTP$page"
  done
  ready=$(echo "$(date +%s.%N) - $s" | bc -l)
  times=()
  for _ in $(seq "$REPEAT"); do
    times+=("$(curl -s -b "$jar" -o /dev/null -w '%{time_total}' "http://127.0.0.1:$HTTP$page")")
  done
  echo "$page $ready ${times[*]}"
done | python3 -c '
import sys
print("| page | first figures (s) | p50 (ms) | p95 (ms) | max (ms) |")
print("|---|---:|---:|---:|---:|")
for line in sys.stdin:
    page, ready, *ts = line.split()
    ts = sorted(float(t) * 1000 for t in ts)
    p = lambda q: ts[min(len(ts) - 1, int(q * len(ts)))]
    flag = "" if p(0.95) < 500 else " **over 500 ms**"
    print(f"| `{page}` | {float(ready):.1f} | {p(0.5):,.0f} | {p(0.95):,.0f}{flag} | {ts[-1]:,.0f} |")
'
