#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Benchmark: GET /v2/apps?embed=apps.tasks on the Marathon emulator with 5,000 apps and
# 10,000 simulated tasks (default health delay of 1 s and deployment cap of 100, so the
# numbers cannot be bought by changing either). Target: median < 300 ms.
#   GALLEY_SANDBOX=path/to/galley-sandbox bench/marathon_apps.sh
# Environment: APPS (5000), INSTANCES (2), RUNS (10), LIMIT_MS (300).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GALLEY_SANDBOX="${GALLEY_SANDBOX:-$ROOT/build/bin/galley-sandbox}"
APPS="${APPS:-5000}" INSTANCES="${INSTANCES:-2}" RUNS="${RUNS:-10}" LIMIT_MS="${LIMIT_MS:-300}"
if [[ ! -x "$GALLEY_SANDBOX" ]]; then
  echo "marathon_apps: no galley-sandbox at $GALLEY_SANDBOX (set GALLEY_SANDBOX)" >&2
  exit 1
fi
tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
"$GALLEY_SANDBOX" --marathon-port 0 --consul-port 0 --tasks simulated --ready-file "$tmp/ready.json" \
  >"$tmp/sandbox.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -s "$tmp/ready.json" ]] && break; sleep 0.1; done
if [[ ! -s "$tmp/ready.json" ]]; then
  echo "marathon_apps: galley-sandbox did not start:" >&2
  cat "$tmp/sandbox.log" >&2
  exit 1
fi
port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["marathon_port"])' "$tmp/ready.json")"
echo "marathon_apps: galley-sandbox pid $pid, marathon on 127.0.0.1:$port"
python3 "$ROOT/bench/marathon/load_apps.py" --port "$port" --apps "$APPS" --instances "$INSTANCES" \
  --runs "$RUNS" --limit-ms "$LIMIT_MS"
