#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Consul emulator KV read throughput: starts galley-sandbox on free ports, loads 1,000 keys
# plus a 30-key prefix, then runs wrk (4 threads, 4 keep-alive connections) against a
# single-key GET and a recurse GET of the prefix. Prints requests/s and PASS/FAIL against
# the target for single-key GETs (default 5,000/s). Builds nothing.
#
#   bench/consul_kv.sh
#   GALLEY_SANDBOX=build-asan/bin/galley-sandbox DURATION=10s TARGET=5000 bench/consul_kv.sh
#
# Exit status: 0 target met, 1 target missed or a request failed, 2 setup problem.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
GALLEY_SANDBOX="${GALLEY_SANDBOX:-build/bin/galley-sandbox}"
case "$GALLEY_SANDBOX" in /*) ;; *) GALLEY_SANDBOX="$root/$GALLEY_SANDBOX" ;; esac
DURATION="${DURATION:-5s}"
KEYS="${KEYS:-1000}"
TARGET="${TARGET:-5000}"

command -v wrk >/dev/null || { echo "consul_kv: wrk is not installed" >&2; exit 2; }
[[ -x "$GALLEY_SANDBOX" ]] || { echo "consul_kv: no galley-sandbox at $GALLEY_SANDBOX (set GALLEY_SANDBOX)" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/galley-consul-bench.XXXXXX")"
"$GALLEY_SANDBOX" --marathon-port 0 --consul-port 0 --ready-file "$work/ready.json" >"$work/sandbox.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 100); do
  [[ -s "$work/ready.json" ]] && break
  kill -0 "$pid" 2>/dev/null || { echo "consul_kv: galley-sandbox exited:" >&2; cat "$work/sandbox.log" >&2; exit 2; }
  sleep 0.1
done
port="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["consul_port"])' "$work/ready.json" 2>/dev/null)"
[[ -n "$port" ]] || { echo "consul_kv: galley-sandbox did not become ready" >&2; exit 2; }
python3 "$here/consul/load_keys.py" "$port" "$KEYS" || exit 2

# run NAME URL: prints the wrk summary line and sets $rps; fails on non-2xx answers.
status=0
run() {
  local name="$1" url="$2" out
  out="$(wrk -t4 -c4 -d"$DURATION" "$url")"
  rps="$(awk '/^Requests\/sec:/ {print int($2)}' <<<"$out")"
  local latency errors
  latency="$(awk '/^ +Latency/ {print $2}' <<<"$out")"
  errors="$(awk '/Non-2xx or 3xx responses:/ {print $5} /Socket errors:/ {print "socket errors"}' <<<"$out")"
  printf '%-34s %8s req/s   avg latency %s\n' "$name" "${rps:-?}" "${latency:-?}"
  if [[ -n "$errors" || -z "$rps" ]]; then
    echo "  FAIL: $name had errors: ${errors:-no result}"
    status=1
  fi
}

base="http://127.0.0.1:$port/v1/kv/bench"
run "GET /v1/kv/<key>" "$base/keys/k$(printf '%04d' $((KEYS / 2)))"
get_rps="${rps:-0}"
run "GET /v1/kv/<prefix>?recurse (30)" "$base/prefix/?recurse"

if (( get_rps >= TARGET )); then
  echo "PASS single-key GET: $get_rps req/s >= $TARGET"
else
  echo "FAIL single-key GET: $get_rps req/s < $TARGET"
  status=1
fi
exit "$status"
