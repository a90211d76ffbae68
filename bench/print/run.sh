#!/usr/bin/env bash
# The print benchmark: N one-page letters into one print PDF, by Aftercare
# (crates/channels, release build, krilla) and by Python's reportlab laying out the same
# letters with the same fonts, in one run; both PDFs checked with pdfinfo.
# Usage: bench/print/run.sh [LETTERS]   (default 10,000)
# Needs python3 with venv and network access to PyPI the first time (the peer lives in
# bench/print/.venv), and poppler-utils; nothing of this runs in CI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-10000}"
venv="$here/.venv"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q reportlab==4.2.5
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
(cd "$root" && cargo build -q --release -p aftercare-channels --example print_letters)
ours="$("$root/target/release/examples/print_letters" "$n" "$out/ours.pdf")"
theirs="$("$venv/bin/python" "$here/reportlab_letters.py" "$n" "$root/crates/channels/fonts" "$out/theirs.pdf")"
echo "aftercare: $ours  pages: $(pdfinfo "$out/ours.pdf" | awk '/^Pages:/ {print $2}')  size: $(stat -c %s "$out/ours.pdf")"
echo "reportlab: $theirs  pages: $(pdfinfo "$out/theirs.pdf" | awk '/^Pages:/ {print $2}')  size: $(stat -c %s "$out/theirs.pdf")"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
ours, theirs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"letters per second: aftercare {ours['letters'] / ours['seconds']:,.0f}, "
      f"reportlab {theirs['letters'] / theirs['seconds']:,.0f}: "
      f"{theirs['seconds'] / ours['seconds']:.1f}x faster")
PY
