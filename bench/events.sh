#!/usr/bin/env bash
# Events accepted per second through the HTTP API (single and batched), durable, on SQLite
# and on PostgreSQL, side by side with pgbench's simple-insert rate on the same PostgreSQL
# in the same run. Durable means: SQLite in WAL with synchronous=NORMAL (a commit survives a
# process crash), PostgreSQL with fsync=on and synchronous_commit=on (its defaults).
# Needs: wrk and pgbench (installed from Debian packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
BATCH=${BATCH:-100}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
ls /usr/lib/postgresql/*/bin/pgbench >/dev/null 2>&1 || need+=(postgresql postgresql-contrib)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release -q
BIN=$PWD/target/release/aftercare
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
W=$(mktemp -d); chmod 755 "$W"
PORT=55440
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
install -d -o postgres -g postgres "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
  -o "-p $PORT -k $W/pg -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null
PSQL="psql -h 127.0.0.1 -p $PORT -U postgres -qAt"
$PSQL -c 'CREATE DATABASE aftercare_bench' -c 'CREATE DATABASE pgbench_peer'

mkdir -p "$W/programmes/templates"   # ingest only: no programme matches page_viewed anyway
cat > "$W/single.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
wrk.body = '{"events":[{"type":"page_viewed","customer_external_id":"C1","at":"2026-01-01T00:00:00Z","properties":{"path":"/shoes"}}]}'
LUA
cat > "$W/batch.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
local e = '{"type":"page_viewed","customer_external_id":"C1","at":"2026-01-01T00:00:00Z","properties":{"path":"/shoes"}}'
local t = {}
for i = 1, $BATCH do t[i] = e end
wrk.body = '{"events":[' .. table.concat(t, ",") .. ']}'
LUA

rate() { # prints requests per second of a wrk run
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$1" "http://127.0.0.1:18080/v1/events" | awk '/Requests\/sec/ {print $2}'
}
errors() {
  wrk -t2 -c"$CONNECTIONS" -d1s -s "$1" "http://127.0.0.1:18080/v1/events" | grep -E "Non-2xx|errors" || true
}

declare -A RESULT
for backend in sqlite postgres; do
  if [ $backend = sqlite ]; then URL="sqlite://$W/bench.db"; else URL="postgres://postgres@127.0.0.1:$PORT/aftercare_bench"; fi
  export AFTERCARE_DATABASE_URL=$URL AFTERCARE_LISTEN=127.0.0.1:18080 AFTERCARE_PROGRAMMES_DIR=$W/programmes AFTERCARE_LOG=warn
  $BIN migrate >/dev/null
  TOKEN=$($BIN token create --name bench 2>/dev/null); export TOKEN
  $BIN serve & SERVER=$!
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/health >/dev/null && break; sleep 0.1; done
  curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
    -d '{"external_id":"C1","email":"bench@example.nl"}' http://127.0.0.1:18080/v1/customers >/dev/null
  errors "$W/single.lua"
  RESULT[$backend-single]=$(rate "$W/single.lua")
  RESULT[$backend-batch]=$(awk -v r="$(rate "$W/batch.lua")" -v b="$BATCH" 'BEGIN {printf "%.0f", r * b}')
  kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=""
done

$PSQL -d pgbench_peer -c 'CREATE TABLE events (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id BIGINT NOT NULL, event_type TEXT NOT NULL, occurred_at BIGINT NOT NULL, received_at BIGINT NOT NULL, properties TEXT NOT NULL)'
echo "INSERT INTO events (customer_id, event_type, occurred_at, received_at, properties) VALUES (1, 'page_viewed', 0, 0, '{\"path\":\"/shoes\"}');" > "$W/insert.sql"
PGB=$(runuser -u postgres -- "$PGBIN/pgbench" -h 127.0.0.1 -p $PORT -U postgres -n -c "$CONNECTIONS" -j 2 -T "$DURATION" -f "$W/insert.sql" pgbench_peer 2>/dev/null | awk '/^tps/ {printf "%.0f", $3}')

echo
echo "Events accepted per second, ${CONNECTIONS} connections, ${DURATION}s each, durable commits:"
printf "%-34s %12s %10s\n" "run" "events/s" "× pgbench"
printf "%-34s %12s %10s\n" "pgbench simple INSERT (peer)" "$PGB" "1.00"
for k in sqlite-single sqlite-batch postgres-single postgres-batch; do
  printf "%-34s %12.0f %10.2f\n" "aftercare $k (batch $BATCH)" "${RESULT[$k]}" "$(awk -v a="${RESULT[$k]}" -v b="$PGB" 'BEGIN {print a / b}')"
done
