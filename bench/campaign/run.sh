#!/usr/bin/env bash
# A campaign to N customers (issue 21), from the outside: the customers imported with
# `aftercare import`, an audience and a campaign made through the admin UI's forms (curl with
# a signed-in session), the draft's dry run (the policy asked for every member, or a sample
# above 5,000), then scheduled and planned by one `aftercare worker` — for SQLite and for
# PostgreSQL. The peer is the database itself writing the same rows in one statement each
# (recipients, messages, their first state, delivery jobs: `INSERT … SELECT` from the
# customers, in a transaction rolled back), in the same run: the floor any planner sits on.
# The day and local time are chosen so planning starts at once (the time has come in
# UTC+14) and the customers' own time (Europe/…) is still to come: planning is measured
# without deliveries falling due.
# Usage: bench/campaign/run.sh [N]   (default 100000)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-100000}
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql sqlite3 >/dev/null
}
cargo build --release -q -p aftercare-aftercare --bin aftercare
BIN=$PWD/target/release/aftercare
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
W=$(mktemp -d); chmod 755 "$W"
PORT=55443
HTTP=18743
cleanup() {
  pkill -f "$W/marker" 2>/dev/null || true
  [ -n "${SERVE:-}" ] && kill "$SERVE" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
python3 bench/import/generate.py "$N" "$W" >/dev/null
install -d -o postgres -g postgres "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
  -o "-p $PORT -k $W/pg -c listen_addresses=127.0.0.1" start >/dev/null
PSQL="psql -h 127.0.0.1 -p $PORT -U postgres -qAt"
$PSQL -c 'CREATE DATABASE aftercare_campaign'
HOUR=$(date -u +%H%M)
if [ "$HOUR" -lt 0930 ]; then DAY=$(date -u +%F); AT=12:00
elif [ "$HOUR" -lt 2130 ]; then DAY=$(date -u +%F); AT=23:30
else DAY=$(date -u -d tomorrow +%F); AT=08:00; fi
now() { date +%s.%N; }

# One backend: "dry_run_seconds planning_seconds planned_messages peer_seconds".
run_one() {
  local url=$1 query=$2 jar=$W/cookies csrf id s e dry plan msgs peer
  export AFTERCARE_DATABASE_URL=$url AFTERCARE_LISTEN=127.0.0.1:$HTTP
  "$BIN" migrate >/dev/null
  "$BIN" import customers "$W/customers.jsonl" >/dev/null 2>&1
  echo 'a long enough password' | "$BIN" user create --username bench --role editor >/dev/null
  "$BIN" serve --no-worker >"$W/serve.log" 2>&1 &
  SERVE=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP/admin/sign-in" >/dev/null && break; sleep 0.1; done
  rm -f "$jar"
  curl -s -c "$jar" -o /dev/null -d 'username=bench&password=a+long+enough+password&next=/admin/campaigns' \
    "http://127.0.0.1:$HTTP/admin/sign-in"
  csrf=$(curl -s -b "$jar" "http://127.0.0.1:$HTTP/admin/campaigns" | grep -o 'name="csrf" value="[^"]*"' | head -1 | sed 's/.*value="//; s/"//')
  curl -s -b "$jar" -o /dev/null --data-urlencode "csrf=$csrf" -d 'id=everyone&name=Everyone' \
    --data-urlencode "definition=stats.orders_count >= 0" "http://127.0.0.1:$HTTP/admin/audiences"
  id=$(curl -s -b "$jar" -o /dev/null -w '%{redirect_url}' --data-urlencode "csrf=$csrf" \
    -d "name=Bench&template=inspiration&audience=everyone&class=promotional&channels=email&send_on=$DAY&local_time=$AT&holdout_percent=10&attribution_days=14" \
    "http://127.0.0.1:$HTTP/admin/campaigns" | sed 's|.*/||')
  s=$(now)
  curl -s -b "$jar" "http://127.0.0.1:$HTTP/admin/campaigns/$id" | grep -q 'id="dry-run"'
  e=$(now); dry=$(echo "$e - $s" | bc -l)
  curl -s -b "$jar" -o /dev/null --data-urlencode "csrf=$csrf" "http://127.0.0.1:$HTTP/admin/campaigns/$id/schedule"
  s=$(now)
  "$BIN" worker >"$W/worker.log" 2>&1 &
  local worker=$!
  until [ "$($query "SELECT state FROM campaigns WHERE id = $id")" = planned ]; do sleep 0.05; done
  e=$(now); plan=$(echo "$e - $s" | bc -l)
  kill "$worker" "$SERVE"; wait "$worker" "$SERVE" 2>/dev/null || true; SERVE=
  msgs=$($query "SELECT COUNT(*) FROM messages WHERE step_key = 'campaign-$id'")
  # The peer: the same rows in one statement each, rolled back.
  s=$(now)
  $query "BEGIN;
    INSERT INTO campaign_recipients (campaign_id, customer_id, holdout, planned_for)
      SELECT 999, id, FALSE, 0 FROM customers;
    INSERT INTO messages (customer_id, step_key, template, class, channel, state, reason, planned_at, priority, topic)
      SELECT id, 'peer', 'inspiration', 'promotional', 'email', 'planned', 'peer', 0, 'low', 'inspiration' FROM customers;
    INSERT INTO message_transitions (message_id, to_state, reason, at)
      SELECT id, 'planned', 'peer', 0 FROM messages WHERE step_key = 'peer';
    INSERT INTO jobs (kind, ref_id, run_at, created_at)
      SELECT 'deliver', id, 0, 0 FROM messages WHERE step_key = 'peer';
    ROLLBACK;" >/dev/null
  e=$(now); peer=$(echo "$e - $s" | bc -l)
  echo "$dry $plan $msgs $peer"
}
sqlite_q() { sqlite3 "$W/campaign.db" "$1"; }
pg_q() { $PSQL -d aftercare_campaign -c "$1"; }
read -r sq_dry sq_plan sq_msgs sq_peer < <(run_one "sqlite://$W/campaign.db" sqlite_q)
read -r pg_dry pg_plan pg_msgs pg_peer < <(run_one "postgres://postgres@127.0.0.1:$PORT/aftercare_campaign" pg_q)
python3 - "$N" "$sq_dry" "$sq_plan" "$sq_msgs" "$sq_peer" "$pg_dry" "$pg_plan" "$pg_msgs" "$pg_peer" <<'PY'
import sys
n = int(sys.argv[1])
print(f"A campaign to {n:,} customers (10% held out)")
for name, dry, plan, msgs, peer in (("SQLite", *sys.argv[2:6]), ("PostgreSQL", *sys.argv[6:10])):
    dry, plan, msgs, peer = float(dry), float(plan), int(msgs), float(peer)
    print(f"{name:11}: dry run {dry:6.1f} s; planned {msgs:,} messages in {plan:6.1f} s = {n / plan:9,.0f} customers/s; "
          f"peer (INSERT … SELECT) {peer:5.1f} s; {peer / plan:.2f}x the peer")
PY
