#!/usr/bin/env bash
# Runs the built galley over every example the way a user would: validate must pass, every
# artifact must render, and every rendered HAProxy config must pass the real `haproxy -c`.
set -euo pipefail
galley="${1:?usage: ci/check-examples.sh path/to/galley}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() {
  local name="$1"; shift
  if "$@" >"$work/log" 2>&1; then
    passed=$((passed + 1)); echo "PASS $name"
  else
    failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/    /' "$work/log"
  fi
}
for ex in "$root"/examples/*/; do
  [ -f "$ex/galley.yaml" ] || continue
  name="$(basename "$ex")"
  check "$name: validate" "$galley" validate "$ex"
  check "$name: render --out" "$galley" render "$ex" --out "$work/$name" --instances "$root/tests/testdata/instances.json"
  for cfg in "$work/$name"/haproxy/*.cfg; do
    [ -f "$cfg" ] || continue
    check "$name: haproxy -c $(basename "$cfg")" env GALLEY_CERT_DIR="$root/tests/testdata/certs" haproxy -c -q -f "$cfg"
  done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
