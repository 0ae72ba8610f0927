#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The baseline bench/apply.sh compares `galley apply` with: what the seed platform's
# marathon-deploy.sh did, in a loop. One app at a time: write the service's Consul KV with
# plain `curl -X PUT /v1/kv/<key>` (one request per key, as a consul-template era script
# would), then one create-or-update `PUT /v2/apps/<id>` with the service definition
# (Marathon's PUT creates a missing app), then poll `GET /v2/apps/<id>` until the app has
# no deployment and tasksHealthy == instances; then the next app. Bash and curl only.
# Polling follows galley's own schedule (engine/apply.cc, so that neither side gains from
# polling): a first look right after the PUT, quick looks 0.1, 0.2 and 0.4 s apart, then
# every POLL_MS (500, galley's default poll interval in engine/apply.h). FIRST_POLL_MS=0
# polls at a fixed POLL_MS from the start (a plain `sleep 0.5` loop).
#
#   bench/baseline_deploy.sh DEFS MARATHON_URL CONSUL_URL [SERVICE ...]
#
# DEFS has the layout of `galley render --out`: marathon/<env>/<service>.json (the app
# definitions to PUT), kv/<env>/<service>.json (flat {"key": "value"} objects, one pair a
# line) and kv/platform.json (written once, first). A KV value "(sensitive: from $VAR)" is
# the secret's source, as render prints it: the script PUTs the value of $VAR (or of the
# file for "(sensitive: from file PATH)"), like a deploy script reading its secrets from the
# environment. Environments are deployed in ENVS order (default: the directories under
# DEFS/marathon, sorted), services in name order; with SERVICE arguments only those.
#
# Settings: POLL_MS (500), FIRST_POLL_MS (100), DEADLINE (600 s per app, galley's default),
# ENVS (default: every environment directory), QUIET=1 (no line per app). Prints one line
# per app and a summary with the request count; exits 0 when every app turned healthy, 1
# otherwise.
set -uo pipefail
export LC_ALL=C  # $EPOCHREALTIME with a "." decimal point

if [[ $# -lt 3 ]]; then
  echo "usage: $0 DEFS MARATHON_URL CONSUL_URL [SERVICE ...]" >&2
  exit 2
fi
defs="$1" marathon="${2%/}" consul="${3%/}"
shift 3
POLL_MS="${POLL_MS:-500}"
FIRST_POLL_MS="${FIRST_POLL_MS:-100}"
[[ "$POLL_MS" =~ ^[1-9][0-9]*$ && "$FIRST_POLL_MS" =~ ^[0-9]+$ ]] || { echo "$0: POLL_MS and FIRST_POLL_MS are milliseconds" >&2; exit 2; }
DEADLINE="${DEADLINE:-600}"
QUIET="${QUIET:-0}"

requests=0 app_puts=0 app_gets=0 kv_puts=0 apps_done=0
t_start=$EPOCHREALTIME

elapsed() {  # seconds since the start, one decimal, from bash's own clock (no fork)
  local now=$EPOCHREALTIME
  local us=$(( (${now%.*} - ${t_start%.*}) * 1000000 + 10#${now#*.} - 10#${t_start#*.} ))
  printf -v REPLY '%d.%d' $((us / 1000000)) $(( (us % 1000000) / 100000 ))
}
say() { elapsed; printf '[%6ss] %s\n' "$REPLY" "$*"; }
die() { say "ERROR: $*" >&2; exit 1; }

# A KV value as render prints it → the value to write.
kv_value() {
  local v="$1"
  if [[ "$v" =~ ^\(sensitive:\ from\ \$([A-Za-z_][A-Za-z0-9_]*)\)$ ]]; then
    local name="${BASH_REMATCH[1]}"
    [[ -n "${!name:-}" ]] || die "secret variable $name is not set"
    REPLY="${!name}"
  elif [[ "$v" =~ ^\(sensitive:\ from\ file\ (.+)\)$ ]]; then
    local path="${BASH_REMATCH[1]}"
    [[ -r "$path" ]] || die "secret file $path cannot be read"
    REPLY="$(<"$path")"  # trailing newlines dropped, as galley does
  else
    REPLY="$v"
  fi
}

# JSON string escapes are rare in rendered KV; decode them exactly when present.
json_unescape() {
  if [[ "$1" != *\\* ]]; then REPLY="$1"; return; fi
  REPLY="$(python3 -c 'import json,sys; sys.stdout.write(json.loads("\"" + sys.argv[1] + "\""))' "$1")"
}

kv_line_re='^[[:space:]]*"((\\.|[^"\\])*)"[[:space:]]*:[[:space:]]*"((\\.|[^"\\])*)",?[[:space:]]*$'

# Writes every key of one flat KV file: PUT /v1/kv/<key>, one request per key.
put_kv_file() {
  local file="$1" line key value code
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*[{}]?[[:space:]]*$ ]] && continue
    [[ "$line" =~ $kv_line_re ]] || die "$file: not a flat one-pair-a-line JSON object: $line"
    json_unescape "${BASH_REMATCH[1]}"; key="$REPLY"
    json_unescape "${BASH_REMATCH[3]}"; kv_value "$REPLY"; value="$REPLY"
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary "$value" "$consul/v1/kv/$key") \
      || die "PUT /v1/kv/$key: curl failed"
    requests=$((requests + 1)) kv_puts=$((kv_puts + 1))
    [[ "$code" == 200 ]] || die "PUT /v1/kv/$key: HTTP $code"
  done <"$file"
}

# PUT the app, then poll it until deployed and healthy.
deploy_app() {
  local file="$1" body id want resp code polls=0 t0=$EPOCHREALTIME
  body="$(<"$file")"
  [[ "$body" =~ \"id\"[[:space:]]*:[[:space:]]*\"([^\"]+)\" ]] || die "$file: no app id"
  id="${BASH_REMATCH[1]}"
  [[ "$body" =~ \"instances\"[[:space:]]*:[[:space:]]*([0-9]+) ]] || die "$file: no instance count"
  want="${BASH_REMATCH[1]}"
  resp=$(curl -sS -w $'\n%{http_code}' -X PUT -H 'Content-Type: application/json' \
           --data-binary "@$file" "$marathon/v2/apps${id}") || die "PUT /v2/apps$id: curl failed"
  requests=$((requests + 1)) app_puts=$((app_puts + 1))
  code="${resp##*$'\n'}"
  [[ "$code" == 200 || "$code" == 201 ]] || die "PUT /v2/apps$id: HTTP $code: ${resp%$'\n'*}"
  local deadline=$(( ${EPOCHREALTIME%.*} + DEADLINE )) healthy=-1 wait_ms="$FIRST_POLL_MS"
  [[ "$wait_ms" -gt 0 ]] || wait_ms="$POLL_MS"
  while :; do
    resp=$(curl -sS -w $'\n%{http_code}' "$marathon/v2/apps${id}") || resp=$'\n000'
    requests=$((requests + 1)) app_gets=$((app_gets + 1)) polls=$((polls + 1))
    code="${resp##*$'\n'}"
    if [[ "$code" == 200 ]]; then
      healthy=-1
      [[ "$resp" =~ \"tasksHealthy\"[[:space:]]*:[[:space:]]*([0-9]+) ]] && healthy="${BASH_REMATCH[1]}"
      if [[ "$resp" =~ \"deployments\"[[:space:]]*:[[:space:]]*\[[[:space:]]*\] && "$healthy" == "$want" ]]; then
        break
      fi
    fi
    (( ${EPOCHREALTIME%.*} < deadline )) || die "$id: not healthy within ${DEADLINE}s (HTTP $code, healthy $healthy/$want)"
    (( wait_ms < POLL_MS )) || wait_ms="$POLL_MS"
    printf -v REPLY '%d.%03d' $((wait_ms / 1000)) $((wait_ms % 1000))
    sleep "$REPLY"
    wait_ms=$((wait_ms * 2))
  done
  apps_done=$((apps_done + 1))
  if [[ "$QUIET" != 1 ]]; then
    local now=$EPOCHREALTIME
    local ms=$(( ((${now%.*} - ${t0%.*}) * 1000000 + 10#${now#*.} - 10#${t0#*.}) / 1000 ))
    say "$id: healthy $want/$want in $((ms / 1000)).$(( (ms % 1000) / 100 )) s ($polls polls)"
  fi
}

[[ -d "$defs/marathon" ]] || die "$defs/marathon: no such directory (expected the layout of galley render --out)"
if [[ -n "${ENVS:-}" ]]; then
  read -r -a envs <<<"$ENVS"
else
  envs=()
  for d in "$defs"/marathon/*/; do envs+=("$(basename "$d")"); done
fi
services=("$@")

[[ -f "$defs/kv/platform.json" ]] && put_kv_file "$defs/kv/platform.json"
for env in "${envs[@]}"; do
  if [[ ${#services[@]} -gt 0 ]]; then
    files=()
    for s in "${services[@]}"; do files+=("$defs/marathon/$env/$s.json"); done
  else
    files=("$defs/marathon/$env"/*.json)
  fi
  for f in "${files[@]}"; do
    [[ -f "$f" ]] || die "$f: no such app definition"
    name="$(basename "$f" .json)"
    [[ -f "$defs/kv/$env/$name.json" ]] && put_kv_file "$defs/kv/$env/$name.json"
    deploy_app "$f"
  done
done
elapsed
echo "baseline: $apps_done apps healthy in ${REPLY} s; $requests HTTP requests" \
  "($kv_puts PUT /v1/kv, $app_puts PUT /v2/apps, $app_gets GET /v2/apps)"
