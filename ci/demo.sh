#!/usr/bin/env bash
# galley's main job on the embedded default, from a fresh Debian 12 machine: install, build,
# validate the reference platform in examples/reference, render everything it would deploy
# (Marathon apps, Consul KV, HAProxy configs checked by the real haproxy) into out/, then
# start the sandbox (emulated Marathon and Consul on loopback) and plan the platform into it.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$GALLEY_ROOT/ci/install-deps.sh"
bash "$GALLEY_ROOT/ci/build.sh" normal >/dev/null
galley="$GALLEY_ROOT/build/bin/galley"
example="$GALLEY_ROOT/examples/reference"
out="$GALLEY_ROOT/out/reference"

log "galley validate examples/reference"
"$galley" validate "$example"

log "galley render examples/reference --env production --service test-server --format marathon"
"$galley" render "$example" --env production --service test-server --format marathon

log "galley render examples/reference --format kv   (secrets are masked)"
"$galley" render "$example" --format kv

log "galley render examples/reference --out out/reference"
"$galley" render "$example" --out "$out" --instances "$GALLEY_ROOT/tests/testdata/instances.json"
for cfg in "$out"/haproxy/*.cfg; do
  GALLEY_CERT_DIR="$GALLEY_ROOT/tests/testdata/certs" haproxy -c -q -f "$cfg"
  echo "haproxy -c $(basename "$cfg"): valid"
done
find "$out" -type f ! -name '.galley-render' | sort | sed "s|$GALLEY_ROOT/||"

log "galley-sandbox: emulated Marathon and Consul on free loopback ports"
work="$(mktemp -d)"
"$GALLEY_ROOT/build/bin/galley-sandbox" --marathon-port 0 --consul-port 0 --ready-file "$work/ready.json" \
  >"$work/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill "$sandbox" 2>/dev/null; wait "$sandbox" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
mport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["marathon_port"])' "$work/ready.json")
cport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["consul_port"])' "$work/ready.json")
echo "marathon http://127.0.0.1:$mport  consul http://127.0.0.1:$cport"

log "galley plan examples/reference   (against the empty sandbox; secrets from the environment)"
PROD_DATABASE_URL="postgres://demo" "$galley" plan "$example" --marathon "http://127.0.0.1:$mport" \
  --consul "http://127.0.0.1:$cport" --state "$work/state.db" --out "$out/plan.json" || true
