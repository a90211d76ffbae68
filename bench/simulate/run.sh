#!/usr/bin/env bash
# A simulated year of a generated shop with the default programme library (issue 5):
# the fast simulator (`aftercare simulate`, every core) on 1,000,000 customers, against
# the peer the product had before it — the engine itself on a throw-away SQLite store
# (`aftercare simulate --exact`) — on the first 1,000 customers of the same shop, the
# same seed and the same day. Reports customer-years per second for both and the ratio.
# The target is the million in under 60 s on this 2-core machine.
# Usage: bench/simulate/run.sh [CUSTOMERS] [PEER_CUSTOMERS]   (default 1000000 1000)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
customers="${1:-1000000}"
peer="${2:-1000}"
(cd "$root" && cargo build -q --release -p aftercare-aftercare --bin aftercare)
bin="$root/target/release/aftercare"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cd "$root"
# Seconds a run takes; its report goes to the file named first.
seconds() {
  local file=$1 s e
  shift
  s=$(date +%s.%N)
  "$@" >"$file" 2>/dev/null
  e=$(date +%s.%N)
  echo "$e - $s" | bc -l
}
fast=$(seconds "$out/fast.json" "$bin" simulate --days 365 --customers "$customers" --json)
exact=$(seconds "$out/exact.json" "$bin" simulate --days 365 --customers "$peer" --exact --json)
python3 - "$customers" "$fast" "$peer" "$exact" "$out" <<'PY'
import json, sys
n, fast, p, exact, out = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
f = json.load(open(f"{out}/fast.json"))
e = json.load(open(f"{out}/exact.json"))
rf, re = n / fast, p / exact
print(f"fast simulator : {n:>9,} customers, a year in {fast:7.1f} s = {rf:10,.0f} customers/s"
      f"  (in band {f['active_marketing_in_band']:.1%} of active consented, {f['above_band']} above)")
print(f"engine (exact) : {p:>9,} customers, a year in {exact:7.1f} s = {re:10,.1f} customers/s"
      f"  (in band {e['active_marketing_in_band']:.1%} of active consented, {e['above_band']} above)")
print(f"ratio          : {rf / re:,.0f}x")
PY
