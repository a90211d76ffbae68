#!/usr/bin/env bash
# The CLV benchmark: BG/NBD + Gamma-Gamma fitted to the same generated customers by
# Aftercare (crates/insight, release build) and by Python `lifetimes` 0.11.3, in one run.
# Usage: bench/clv/run.sh [CUSTOMERS]   (default 1,000,000)
# Needs python3 with venv and network access to PyPI the first time (the peer lives in
# bench/clv/.venv); nothing of this runs in CI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-1000000}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q lifetimes==0.11.3
fi
data="$(mktemp --suffix=.csv)"
trap 'rm -f "$data"' EXIT
"$venv/bin/python" "$here/generate.py" "$n" "$data" 7
(cd "$root" && cargo build -q --release -p aftercare-insight --example fit_summary)
ours="$("$root/target/release/examples/fit_summary" "$data")"
theirs="$("$venv/bin/python" "$here/lifetimes_fit.py" "$data")"
echo "aftercare: $ours"
echo "lifetimes: $theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ("r", "alpha", "a", "b"):
    print(f"  {k:6} aftercare {ours['bgnbd'][k]:.4f}  lifetimes {theirs['bgnbd'][k]:.4f}")
for k in ("p", "q", "gamma"):
    print(f"  {k:6} aftercare {ours['gamma_gamma'][k]:.4f}  lifetimes {theirs['gamma_gamma'][k]:.4f}")
print(f"fit seconds: aftercare {ours['seconds']:.2f}, lifetimes {theirs['seconds']:.2f}: "
      f"{theirs['seconds'] / ours['seconds']:.1f}x faster")
PY
