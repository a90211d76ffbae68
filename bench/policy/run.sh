#!/usr/bin/env bash
# Policy decisions per second on one core: the whole pipeline (consent, data quality,
# coupon validity, caps, the yearly band and its look-ahead, quiet hours in the customer's
# zone) for 10,000 generated customers with up to 14 contacts of history each, in a release
# build. The target (issue 5) is at least 2 million decisions a second.
# Usage: bench/policy/run.sh [DECISIONS]   (default 5,000,000)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
(cd "$root" && cargo build -q --release -p aftercare-domain --example policy_decisions)
taskset -c 0 "$root/target/release/examples/policy_decisions" "${1:-5000000}"
