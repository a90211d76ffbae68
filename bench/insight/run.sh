#!/usr/bin/env bash
# The RFM and "also bought" benchmark: the same generated order lines (default 10 million)
# scored and mined by Aftercare (crates/insight, release build) and by DuckDB's Python
# package in SQL, in one run. Usage: bench/insight/run.sh [LINES]
# Needs python3 with venv and network access to PyPI the first time (the peer lives in
# bench/insight/.venv); nothing of this runs in CI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-10000000}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q duckdb numpy pandas
fi
data="$(mktemp --suffix=.csv)"
trap 'rm -f "$data"' EXIT
"$venv/bin/python" "$here/generate.py" "$n" "$data" 7
(cd "$root" && cargo build -q --release -p aftercare-insight --example rfm_recs)
ours="$("$root/target/release/examples/rfm_recs" "$data")"
theirs="$("$venv/bin/python" "$here/duckdb_run.py" "$data")"
echo "aftercare: $ours"
echo "duckdb:    $theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert ours["customers"] == theirs["customers"] and ours["rules"] == theirs["rules"], "different answers"
for k in ("rfm", "recs"):
    o, t = ours[k + "_seconds"], theirs[k + "_seconds"]
    print(f"{k:5} aftercare {o:.3f} s, duckdb {t:.3f} s: {t / o:.1f}x faster")
PY
