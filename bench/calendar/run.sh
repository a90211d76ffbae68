#!/usr/bin/env bash
# The day's calendar and scores at a million customers (issue 22 point 2): N customers with
# birth dates and 1 to 6 orders over two years (generate.py) imported into a fresh
# PostgreSQL with `aftercare import`, then K `aftercare worker` processes started together.
# The figures, in seconds from the workers' start: the day's scores written (the `scores`
# job, which runs first and then plans the parts), every part of the day's scan stored
# (`calendar_part` jobs), and everything those started routed (no job due left); then the
# occasions and `likely_lapsing` events stored.
# Targets: the day's work under 5 minutes with 2 workers, scoring under 2 minutes.
# Peer, same rows and same run: PostgreSQL's own SQL for the simplest part of each — the
# day's birthdays found from the stored customer records, and RFM quintiles (NTILE over
# every customer's orders) written into a table of the scores' shape.
# The customers live in a time zone where it is now between 07:00 and 21:00, so the local
# day has begun whatever the hour of the run.
# Usage: bench/calendar/run.sh [N] [K...]      (default 1000000, workers 1 and 2)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
shift || true
KS=${*:-"1 2"}
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}
cargo build --release -q -p aftercare-aftercare --bin aftercare
BIN=$PWD/target/release/aftercare
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
W=$(mktemp -d); chmod 755 "$W"
PORT=55446
WORKERS=()
cleanup() {
  for p in "${WORKERS[@]}"; do kill "$p" 2>/dev/null || true; done
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
ZONE=""
for z in Europe/Amsterdam America/New_York America/Los_Angeles Asia/Tokyo Pacific/Auckland Asia/Kolkata; do
  h=$(TZ=$z date +%-H)
  if [ "$h" -ge 7 ] && [ "$h" -le 21 ]; then ZONE=$z; break; fi
done
TODAY=$(TZ=$ZONE date +%F)
python3 bench/calendar/generate.py "$N" "$W" "$ZONE" "$TODAY"
install -d -o postgres -g postgres "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
  -o "-p $PORT -k $W/pg -c listen_addresses=127.0.0.1 -c shared_buffers=1GB" start >/dev/null
PSQL="psql -h 127.0.0.1 -p $PORT -U postgres -qAt"
export AFTERCARE_LOG=warn
export AFTERCARE_PROGRAMMES_DIR=$PWD/programmes AFTERCARE_TEMPLATES_DIR=$PWD/programmes/templates
$PSQL -c 'CREATE DATABASE template_shop'
export AFTERCARE_DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/template_shop
"$BIN" migrate >/dev/null
s=$(date +%s)
for kind in products customers orders; do "$BIN" import "$kind" "$W/$kind.jsonl" >/dev/null 2>&1; done
# The workers start the calendar themselves; the import's own job would start it now.
$PSQL -d template_shop -c "DELETE FROM jobs" -c "VACUUM ANALYZE"
echo "imported $N customers ($ZONE, $TODAY) and $($PSQL -d template_shop -c 'SELECT count(*) FROM orders') orders in $(( $(date +%s) - s )) s" >&2

now_us() { echo $(( $(date +%s%N) / 1000 )); }
since() { echo "$(date +%s.%N) - $1" | bc -l | xargs printf '%.1f'; }

# The peers, on the imported rows.
s=$(date +%s.%N)
MD=$(date -d "$TODAY" +%m-%d)
$PSQL -d template_shop -c "CREATE TABLE peer_birthdays AS SELECT id, record::jsonb->>'birth_date' AS born
  FROM customers WHERE time_zone = '$ZONE' AND substr(record::jsonb->>'birth_date', 6) = '$MD'" >/dev/null
PEER_CAL=$(since "$s")
s=$(date +%s.%N)
$PSQL -d template_shop -c "CREATE TABLE peer_scores AS
  SELECT customer_id, ntile(5) OVER (ORDER BY last_at) AS rfm_r, ntile(5) OVER (ORDER BY n) AS rfm_f,
         ntile(5) OVER (ORDER BY cents) AS rfm_m, now() AS computed_at
  FROM (SELECT customer_id, max(placed_at) AS last_at, count(DISTINCT placed_at / 86400000000) AS n,
               sum(total_cents) AS cents FROM orders GROUP BY customer_id) t" >/dev/null
PEER_SCORES=$(since "$s")
$PSQL -d template_shop -c "DROP TABLE peer_birthdays" -c "DROP TABLE peer_scores"

echo "| run | scores written (s) | day's scan stored (s) | everything routed (s) | occasions |"
echo "|---|---:|---:|---:|---:|"
echo "| PostgreSQL SQL: the day's birthdays (peer) | | $PEER_CAL | | |"
echo "| PostgreSQL SQL: RFM quintiles with NTILE (peer) | $PEER_SCORES | | | |"
for K in $KS; do
  db=shop_k$K
  $PSQL -c "CREATE DATABASE $db TEMPLATE template_shop"
  export AFTERCARE_DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/$db
  P="$PSQL -d $db"
  start=$(date +%s.%N)
  WORKERS=()
  for _ in $(seq "$K"); do "$BIN" worker >>"$W/worker.log" 2>&1 & WORKERS+=($!); done
  scan="" scores="" done_at=""
  while [ -z "$done_at" ]; do
    sleep 0.5
    read -r planned parts scoring due <<<"$($P -F ' ' -c "SELECT
      (SELECT count(*) FROM calendar_scans WHERE time_zone = '$ZONE' AND local_date = '$TODAY'),
      (SELECT count(*) FROM jobs WHERE kind = 'calendar_part'),
      (SELECT count(*) FROM job_cursors WHERE name = 'scores') - (SELECT count(*) FROM jobs WHERE kind = 'scores'),
      (SELECT count(*) FROM jobs WHERE kind NOT IN ('calendar', 'shop_codes') AND run_at <= $(now_us) AND dead_at IS NULL)")"
    [ -z "$scan" ] && [ "$planned" = 1 ] && [ "$parts" = 0 ] && scan=$(since "$start")
    [ -z "$scores" ] && [ "$scoring" = 1 ] && scores=$(since "$start")
    [ -n "$scan" ] && [ -n "$scores" ] && [ "$due" = 0 ] && done_at=$(since "$start")
    if [ "$(echo "$(since "$start") > 1800" | bc)" = 1 ]; then echo "K=$K: not done after 30 minutes" >&2; tail -20 "$W/worker.log" >&2; exit 1; fi
  done
  for p in "${WORKERS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  WORKERS=()
  occasions=$($P -c "SELECT count(*) FROM events WHERE event_type LIKE 'occasion_%' OR event_type = 'likely_lapsing'")
  echo "| aftercare, $K worker(s) | $scores | $scan | $done_at | $occasions |"
  $PSQL -c "DROP DATABASE $db"
done
dead=$(grep -c "ERROR" "$W/worker.log" || true)
[ "$dead" = 0 ] || { echo "the workers logged $dead errors:" >&2; grep ERROR "$W/worker.log" | head -5 >&2; }
