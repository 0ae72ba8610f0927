#!/usr/bin/env bash
# `galley plan` at 2,000 services x 3 environments in the sandbox (issue #4's target:
# under 3 s and 300 MB; a constant number of HTTP requests). See bench/plan_bench.py.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
exec python3 "$root/bench/plan_bench.py" --galley "${GALLEY:-$root/build/bin/galley}" \
  --sandbox "${GALLEY_SANDBOX:-$root/build/bin/galley-sandbox}" --services "${SERVICES:-2000}" \
  --environments "${ENVIRONMENTS:-3}" --runs "${RUNS:-5}"
