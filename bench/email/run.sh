#!/usr/bin/env bash
# The email benchmark: N order confirmations rendered (text + the HTML layout) and sent to
# Postfix's smtp-sink on loopback, by Aftercare (crates/engine/examples/send_emails.rs,
# release build: the worker's renderer and SMTP pool, 8 concurrent sends) and by Python
# (Jinja2 + smtplib over one connection, bench/email/jinja_smtplib.py) rendering the same
# template file and layout, to the same sink, in one run.
# Usage: bench/email/run.sh [MESSAGES] [CONNECTIONS]   (default 10,000 and 8)
# Needs postfix (smtp-sink) and python3 with jinja2 (Debian: python3-jinja2); nothing of
# this runs in CI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
n="${1:-10000}"
connections="${2:-8}"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
user="$(id -un)"; [ "$user" = root ] && user=postfix
/usr/sbin/smtp-sink -u "$user" -c "127.0.0.1:$port" 256 >/dev/null 2>&1 &
sink=$!
trap 'kill $sink 2>/dev/null || true' EXIT
sleep 0.3
(cd "$root" && cargo build -q --release -p aftercare-engine --example send_emails)
ours="$("$root/target/release/examples/send_emails" "$n" "smtp://127.0.0.1:$port" "$connections")"
theirs="$(python3 "$here/jinja_smtplib.py" "$n" 127.0.0.1 "$port" "$root")"
single="$("$root/target/release/examples/send_emails" "$n" "smtp://127.0.0.1:$port" 1)"
echo "aftercare ($connections connections): $ours"
echo "aftercare (1 connection): $single"
echo "python jinja2 $(python3 -c 'import jinja2; print(jinja2.__version__)') + smtplib: $theirs"
python3 - "$ours" "$single" "$theirs" <<'PY'
import json, sys
ours, single, theirs = (json.loads(a) for a in sys.argv[1:4])
rate = lambda r: r["messages"] / r["seconds"]
print(f"emails per second: aftercare {rate(ours):,.0f} ({rate(single):,.0f} on one connection), "
      f"python {rate(theirs):,.0f}: {rate(ours) / rate(theirs):.1f}x "
      f"({rate(single) / rate(theirs):.1f}x connection for connection)")
PY
