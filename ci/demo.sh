#!/usr/bin/env bash
# galley's main job on the embedded default, from a fresh Debian 12 machine: install, build,
# validate the reference platform in examples/reference, and render everything it would
# deploy (Marathon apps, Consul KV, HAProxy configs checked by the real haproxy) into out/.
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
