#!/usr/bin/env bash
# Runs the whole test suite on a bare Debian machine: installs what the tests need when it
# is missing (PostgreSQL, postfix's smtp-sink as a real SMTP server, Chromium and its
# WebDriver, axe-core from npm for the accessibility check, poppler-utils for the print tests, dkimpy to verify DKIM,
# Jinja2 for a smoke run of the email bench's peer,
# Schemathesis and openapi-spec-validator from PyPI for the API contract), starts a throw-away PostgreSQL
# and ChromeDriver on loopback, runs fmt, clippy and every test, and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v /usr/sbin/smtp-sink >/dev/null || need+=(postfix)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
command -v npm >/dev/null || need+=(npm)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v pdftotext >/dev/null || need+=(poppler-utils)   # the print tests read the PDFs
/usr/bin/python3 -c "import dkim" 2>/dev/null || need+=(python3-dkim)   # verifies DKIM signatures
/usr/bin/python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)   # for the contract tools
/usr/bin/python3 -c "import jinja2" 2>/dev/null || need+=(python3-jinja2)   # the email bench's peer, smoke-run
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing ${need[*]} from Debian packages…"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
W=$(mktemp -d); chmod 755 "$W"
PGPORT=${AFTERCARE_TEST_PGPORT:-55432}
if [ ! -e tests/browser/node_modules/axe-core/axe.min.js ]; then
  echo "Installing axe-core from npm…"
  (cd tests/browser && npm ci --no-audit --no-fund --silent)
fi

# The API contract tools (tests/contract/requirements.txt pins them), in their own venv.
CONTRACT=tests/contract/.venv
if ! "$CONTRACT/bin/st" --version >/dev/null 2>&1 || ! "$CONTRACT/bin/openapi-spec-validator" --help >/dev/null 2>&1; then
  echo "Installing Schemathesis and openapi-spec-validator from PyPI…"
  rm -rf "$CONTRACT"
  /usr/bin/python3 -m venv "$CONTRACT"
  "$CONTRACT/bin/pip" install --quiet --disable-pip-version-check -r tests/contract/requirements.txt
fi
export AFTERCARE_TEST_CONTRACT_TOOLS="$PWD/$CONTRACT/bin"

cleanup() {
  [ -n "${DRIVER_PID:-}" ] && kill "$DRIVER_PID" 2>/dev/null || true
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m immediate stop >/dev/null 2>&1 || true
  else
    "$PGBIN/pg_ctl" -D "$W/pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$W"
}
trap cleanup EXIT
if [ "$(id -u)" -eq 0 ]; then
  install -d -o postgres -g postgres "$W/pg"
  runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >/dev/null
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
    -o "-p $PGPORT -k $W/pg -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
else
  mkdir -p "$W/pg"
  "$PGBIN/initdb" -D "$W/pg/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >/dev/null
  "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
    -o "-p $PGPORT -k $W/pg -c listen_addresses=127.0.0.1 -c max_connections=300" start >/dev/null
fi
export AFTERCARE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PGPORT/postgres"

# ChromeDriver for the browser tests, on a free loopback port.
DRIVER_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chromedriver --port="$DRIVER_PORT" --allowed-ips=127.0.0.1 >"$W/chromedriver.log" 2>&1 &
DRIVER_PID=$!
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$DRIVER_PORT) 2>/dev/null && break
  sleep 0.1
done
export AFTERCARE_TEST_WEBDRIVER="http://127.0.0.1:$DRIVER_PORT"

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test --all-targets
