#!/usr/bin/env bash
# The live engine, end to end: N new customers each place one order through the API, and the
# figure is order confirmations delivered per second at a real SMTP listener (postfix's
# smtp-sink) from the first order to the last confirmation — event in, programme step, policy,
# render, send, commit. Run for SQLite (`serve` alone) and for PostgreSQL (`serve --no-worker`
# plus K = 1, 2 and 4 `aftercare worker` processes), side by side with the same sink's ceiling
# measured in the same run (bench/email's sender at full speed), and once at a steady rate on
# PostgreSQL with 2 workers for the latency from an order to its confirmation.
# The programmes are the default library (programmes/): an order starts the confirmation and
# everything else an order starts; only the confirmation is due at once.
#
# Usage: bench/engine/run.sh [ORDERS] [CLIENTS]      (default 20,000 and 16)
#        RATE=500 STEADY=15000 (orders a second and orders of the steady run; STEADY=0 skips it)
#        RUNS="sqlite pg1 pg2 pg4" to pick runs
# Needs postfix (smtp-sink) and PostgreSQL: installed from Debian packages when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
ORDERS=${1:-20000}
CLIENTS=${2:-16}
RATE=${RATE:-500}
STEADY=${STEADY:-15000}
RUNS=${RUNS:-"sqlite pg1 pg2 pg4"}

need=()
command -v curl >/dev/null || need+=(curl)
[ -x /usr/sbin/smtp-sink ] || need+=(postfix)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
cargo build --release -q -p aftercare-aftercare --bin aftercare --example order_load
cargo build --release -q -p aftercare-engine --example send_emails
BIN=$PWD/target/release/aftercare
LOAD=$PWD/target/release/examples/order_load
SEND=$PWD/target/release/examples/send_emails
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
W=$(mktemp -d); chmod 755 "$W"
PGPORT=55441; SMTPPORT=25441; HTTP=127.0.0.1:18441
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$W" "${DUMP:-}"
}
trap cleanup EXIT
install -d -o postgres -g postgres "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
  -o "-p $PGPORT -k $W/pg -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
export PGOPTIONS="-c client_min_messages=warning"
PSQL="psql -h 127.0.0.1 -p $PGPORT -U postgres -qAt"

# The sink writes every message to a file of its own in memory (/dev/shm); the load tool reads
# them to see which customer's confirmation arrived when. For the ceiling, a loop throws them
# away, so the sink does the same work in both.
DUMP=$(mktemp -d -p /dev/shm); chown postfix "$DUMP"
/usr/sbin/smtp-sink -u postfix -d "$DUMP/m." "127.0.0.1:$SMTPPORT" 1024 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.3

( while :; do find "$DUMP" -type f -delete; sleep 0.1; done ) & DRAIN=$!; PIDS+=($DRAIN)
CEILING=$("$SEND" "$ORDERS" "smtp://127.0.0.1:$SMTPPORT" 8)
kill $DRAIN 2>/dev/null; wait $DRAIN 2>/dev/null || true
sleep 0.5; find "$DUMP" -type f -delete

export AFTERCARE_LISTEN=$HTTP AFTERCARE_LOG=warn AFTERCARE_SMTP_URL=smtp://127.0.0.1:$SMTPPORT
export AFTERCARE_PROGRAMMES_DIR=$PWD/programmes AFTERCARE_TEMPLATES_DIR=$PWD/programmes/templates

# run NAME DATABASE_URL WORKERS ORDERS RATE: one measurement, printed as JSON.
run() {
  local name=$1 url=$2 workers=$3 orders=$4 rate=$5
  export AFTERCARE_DATABASE_URL=$url
  $BIN migrate >/dev/null
  local token; token=$($BIN token create --name bench 2>/dev/null)
  local procs=()
  if [ "$workers" = 0 ]; then
    $BIN serve & procs+=($!)
  else
    $BIN serve --no-worker & procs+=($!)
    for _ in $(seq "$workers"); do $BIN worker & procs+=($!); done
  fi
  PIDS+=("${procs[@]}")
  for _ in $(seq 100); do curl -sf "http://$HTTP/health" >/dev/null && break; sleep 0.1; done
  local out
  out=$("$LOAD" "http://$HTTP" "$token" "$orders" "$CLIENTS" "$rate" "$DUMP")
  for p in "${procs[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${procs[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "{\"run\":\"$name\",\"result\":$out}"
}
fresh_pg() { $PSQL -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; echo "postgres://postgres@127.0.0.1:$PGPORT/$1"; }

RESULTS=()
for r in $RUNS; do
  case $r in
    sqlite) RESULTS+=("$(run sqlite "sqlite://$W/bench.db" 0 "$ORDERS" 0)") ;;
    pg*) k=${r#pg}; RESULTS+=("$(run "postgres K=$k" "$(fresh_pg "bench$k")" "$k" "$ORDERS" 0)") ;;
  esac
done
if [ "$STEADY" != 0 ]; then
  RESULTS+=("$(run "postgres K=2 at $RATE/s" "$(fresh_pg steady)" 2 "$STEADY" "$RATE")")
fi

python3 - "$CEILING" "${RESULTS[@]}" <<'PY'
import json, sys
ceiling = json.loads(sys.argv[1])
ceiling_rate = ceiling["messages"] / ceiling["seconds"]
runs = [json.loads(a) for a in sys.argv[2:]]
k1 = next((r["result"]["confirmations_per_second"] for r in runs if r["run"] == "postgres K=1"), None)
print(f"sink ceiling (bench/email's sender, 8 connections): {ceiling_rate:,.0f} messages/s")
print("| run | orders/s in | confirmations/s | x sink ceiling | x K=1 | latency p50 / p99 / max (s) |")
print("|---|---:|---:|---:|---:|---|")
for r in runs:
    x = r["result"]
    rate = x["confirmations_per_second"]
    vs_k1 = f"{rate / k1:.2f}" if k1 and r["run"].startswith("postgres") else ""
    print(f"| {r['run']} | {x['orders_per_second']:,.0f} | {rate:,.0f} | {rate / ceiling_rate:.3f} | "
          f"{vs_k1} | {x['latency_p50']:.2f} / {x['latency_p99']:.2f} / {x['latency_max']:.2f} |")
PY
