#!/usr/bin/env bash
# A shop's history imported in bulk (issue 24): N customers with N orders of about three
# lines each (3N order lines) and 500 products, through `aftercare import` (JSON Lines)
# into SQLite and into PostgreSQL, side by side with PostgreSQL's own COPY of the same rows
# into tables of the same shape in the same run. Reports rows a second, the ratio to COPY
# (target ≥ 0.5×) and each import's peak memory (it streams: memory must not grow with N).
# Usage: bench/import/run.sh [N]   (default 1000000: a million customers, three million lines)
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000000}
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}
cargo build --release -q -p aftercare-aftercare --bin aftercare
BIN=$PWD/target/release/aftercare
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
W=$(mktemp -d); chmod 755 "$W"
PORT=55441
cleanup() {
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
LINES=$(python3 bench/import/generate.py "$N" "$W")
install -d -o postgres -g postgres "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 --no-locale >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
  -o "-p $PORT -k $W/pg -c listen_addresses=127.0.0.1" start >/dev/null
PSQL="psql -h 127.0.0.1 -p $PORT -U postgres -qAt"
$PSQL -c 'CREATE DATABASE aftercare_import' -c 'CREATE DATABASE copy_peer'
ROWS=$((N + N + LINES + 500))

# Seconds and peak KiB of one command.
measure() {
  /usr/bin/time -f "%e %M" -o "$W/time" "$@" >/dev/null 2>"$W/err" || { cat "$W/err"; exit 1; }
  cat "$W/time"
}
import_all() { # database url → "seconds peak_kib"
  local url=$1 total=0 peak=0 s m
  for kind in products customers orders; do
    read -r s m < <(AFTERCARE_DATABASE_URL=$url measure "$BIN" import "$kind" "$W/$kind.jsonl")
    total=$(echo "$total + $s" | bc -l); [ "$m" -gt "$peak" ] && peak=$m
  done
  echo "$total $peak"
}
AFTERCARE_DATABASE_URL="sqlite://$W/import.db" "$BIN" migrate >/dev/null
read -r sqlite_s sqlite_kb < <(import_all "sqlite://$W/import.db")
PG_URL="postgres://postgres@127.0.0.1:$PORT/aftercare_import"
AFTERCARE_DATABASE_URL=$PG_URL "$BIN" migrate >/dev/null
read -r pg_s pg_kb < <(import_all "$PG_URL")

# The peer: COPY of the same rows into tables of the same shape (keys and indexes as
# Aftercare's: unique ids, the order's customer, the line's order).
$PSQL -d copy_peer <<'SQL'
CREATE TABLE products (sku TEXT PRIMARY KEY, name TEXT, category TEXT, price_cents BIGINT);
CREATE TABLE customers (id BIGSERIAL PRIMARY KEY, external_id TEXT UNIQUE, email TEXT, first_name TEXT, last_name TEXT, locale TEXT);
CREATE INDEX ON customers (email);
CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, external_id TEXT UNIQUE, customer_external_id TEXT, placed_at TIMESTAMPTZ);
CREATE INDEX ON orders (customer_external_id);
CREATE TABLE order_lines (order_external_id TEXT, sku TEXT, quantity INT, unit_price_cents BIGINT);
CREATE INDEX ON order_lines (order_external_id);
SQL
s=$(date +%s.%N)
$PSQL -d copy_peer \
  -c "\\copy products FROM '$W/products.csv' CSV" \
  -c "\\copy customers (external_id, email, first_name, last_name, locale) FROM '$W/customers.csv' CSV" \
  -c "\\copy orders (external_id, customer_external_id, placed_at) FROM '$W/orders.csv' CSV" \
  -c "\\copy order_lines FROM '$W/lines.csv' CSV"
e=$(date +%s.%N)
copy_s=$(echo "$e - $s" | bc -l)
python3 - "$N" "$LINES" "$ROWS" "$sqlite_s" "$sqlite_kb" "$pg_s" "$pg_kb" "$copy_s" <<'PY'
import sys
n, lines, rows = map(int, sys.argv[1:4])
sq, sqk, pg, pgk, cp = float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8])
print(f"{n:,} customers, {n:,} orders, {lines:,} order lines, 500 products ({rows:,} rows)")
for name, s, kb in (("aftercare import, SQLite", sq, sqk), ("aftercare import, PostgreSQL", pg, pgk)):
    print(f"{name:30}: {s:8.1f} s = {rows / s:10,.0f} rows/s, peak {kb / 1024:6.0f} MiB, {cp / s:.3f}x COPY")
print(f"{'PostgreSQL COPY (peer)':30}: {cp:8.1f} s = {rows / cp:10,.0f} rows/s")
PY
