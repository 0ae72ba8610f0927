#!/usr/bin/env bash
# galley's main job on the embedded default, from a fresh Debian 12 machine: install, build,
# validate the reference platform in examples/reference, render everything it would deploy
# (Marathon apps, Consul KV, HAProxy configs checked by the real haproxy) into out/, then
# start the sandbox (emulated Marathon and Consul on loopback), plan the platform into it,
# apply the saved plan, make a drift by hand, report it and repair it; then the traffic path:
# real test-server tasks on two loopback nodes, one `galley agent` and one real HAProxy per
# node, a request through HAProxy, a rolling deploy under load with its failed-request count,
# and drift seeing a server put in maint by hand (bench/agent_lab.py demo).
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

log "galley-sandbox: emulated Marathon, Consul and Chronos on free loopback ports"
work="$(mktemp -d)"
"$GALLEY_ROOT/build/bin/galley-sandbox" --marathon-port 0 --consul-port 0 --chronos-port 0 --ready-file "$work/ready.json" \
  >"$work/sandbox.log" 2>&1 &
sandbox=$!
trap 'kill "$sandbox" 2>/dev/null || true; wait "$sandbox" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/ready.json" ] && break; sleep 0.1; done
mport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["marathon_port"])' "$work/ready.json")
cport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["consul_port"])' "$work/ready.json")
chport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chronos_port"])' "$work/ready.json")
echo "marathon http://127.0.0.1:$mport  consul http://127.0.0.1:$cport  chronos http://127.0.0.1:$chport"

export PROD_DATABASE_URL="postgres://demo"   # the reference platform's one secret, read at apply time
endpoints=(--marathon "http://127.0.0.1:$mport" --consul "http://127.0.0.1:$cport"
           --chronos "http://127.0.0.1:$chport" --state "$work/state.db")

log "galley plan examples/reference   (against the empty sandbox)"
"$galley" plan "$example" "${endpoints[@]}" --out "$out/plan.json"

log "galley apply out/reference/plan.json   (exactly the saved plan: Chronos jobs first, the pre-deploy migration before test-server, every app followed to health)"
"$galley" apply "$out/plan.json" "${endpoints[@]}"

log "galley plan --detailed-exitcode   (converged: no changes, exit 0)"
"$galley" plan "$example" "${endpoints[@]}" --detailed-exitcode

log "a hand-made drift: someone scales test-server to 6, edits a KV value and disables the nightly report job behind galley's back"
curl -fsS -X PUT "http://127.0.0.1:$mport/v2/apps/app/production/test-server" \
  -H 'Content-Type: application/json' -d '{"instances": 6}'
echo
curl -fsS -X PUT "http://127.0.0.1:$cport/v1/kv/app/production/test-server/LOG_LEVEL" -d 'trace'
echo
job="$(curl -fsS "http://127.0.0.1:$chport/v1/scheduler/job/production-test-server-report")"
python3 -c 'import json,sys; j=json.loads(sys.argv[1]); j["disabled"]=True; print(json.dumps(j))' "$job" |
  curl -fsS -X POST "http://127.0.0.1:$chport/v1/scheduler/iso8601" -H 'Content-Type: application/json' -d @-
echo "job production-test-server-report disabled by hand"
sleep 1

log "galley drift --detailed-exitcode   (exit 2: drift found)"
set +e
"$galley" drift "$example" "${endpoints[@]}" --detailed-exitcode
code=$?
set -e
[ "$code" = 2 ] || { echo "expected drift (exit 2), got $code" >&2; exit 1; }

log "galley apply --auto-approve   (the drift policy is revert: apply repairs it)"
"$galley" apply "$example" "${endpoints[@]}" --auto-approve

log "galley drift --detailed-exitcode   (repaired: exit 0)"
"$galley" drift "$example" "${endpoints[@]}" --detailed-exitcode

log "galley history"
"$galley" history --state "$work/state.db"

log "the traffic path: galley agent + real HAProxy per node, real test-server tasks"
kill "$sandbox" 2>/dev/null; wait "$sandbox" 2>/dev/null || true
/usr/bin/python3 "$GALLEY_ROOT/bench/agent_lab.py" demo
