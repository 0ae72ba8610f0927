#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fast CI smoke test of the benchmark path (no timing): generate a small repository
# (default 50 services x 3 environments), check that `galley validate` accepts it and that
# `galley render --out` writes one Marathon app per service x environment (a service with
# two ports is still one app), one KV file per service x environment, the platform KV file
# and one HAProxy config per instance; and that validate rejects a broken copy. Then the
# apply benchmark at 10 x 2 (bench/apply_bench.py --smoke): galley apply and the baseline
# both converge a sandbox from empty (~8 s; galley-sandbox next to galley, or GALLEY_SANDBOX),
# and the scale benchmark at 10 x 2 (bench/scale_bench.py --smoke, a few seconds).
#
#   bench/smoke.sh
#   GALLEY=/path/to/galley SERVICES=20 ENVIRONMENTS=2 bench/smoke.sh
#   APPLY_SMOKE=0 bench/smoke.sh          # without the apply part
#   SCALE_SMOKE=0 bench/smoke.sh          # without the scale part
#
# Prints one line per check and `N passed, M failed`; exits 1 if any check failed.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
GALLEY="${GALLEY:-$root/build/bin/galley}"
case "$GALLEY" in /*) ;; *) [[ "$GALLEY" == */* ]] && GALLEY="$root/$GALLEY" ;; esac
SERVICES="${SERVICES:-50}"
ENVIRONMENTS="${ENVIRONMENTS:-3}"

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
check() {  # check DESCRIPTION COMMAND...: passes when COMMAND exits 0
  local what="$1"; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
finish() {
  echo "$passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
  exit
}

work="$(mktemp -d "${TMPDIR:-/tmp}/galley-smoke.XXXXXX")"
trap 'rm -rf "$work"' EXIT
repo="$work/repo"
out="$work/out"
manifest="$work/manifest.json"

if [[ ! -x "$GALLEY" ]]; then
  fail "galley binary is executable ($GALLEY; set GALLEY=...)"
  finish
fi

if python3 "$here/gen_repo.py" "$repo" --services "$SERVICES" --environments "$ENVIRONMENTS" \
     --manifest "$manifest" >"$work/gen.log" 2>&1; then
  ok "gen_repo.py writes $SERVICES x $ENVIRONMENTS"
else
  cat "$work/gen.log"
  fail "gen_repo.py writes $SERVICES x $ENVIRONMENTS"
  finish
fi

"$GALLEY" validate "$repo" >"$work/validate.out" 2>"$work/validate.err"
rc=$?
if [[ $rc -eq 0 ]]; then ok "validate exits 0"; else head -20 "$work/validate.err"; fail "validate exits 0 (got $rc)"; fi
if grep -q ': error:' "$work/validate.err"; then
  fail "validate reports no errors"
else
  ok "validate reports no errors"
fi
warnings=$(grep -c ': warning:' "$work/validate.err" || true)
[[ "$warnings" -gt 0 ]] && echo "note: validate printed $warnings warnings on the generated repository"

"$GALLEY" render "$repo" --out "$out" >"$work/render.out" 2>"$work/render.err"
rc=$?
if [[ $rc -eq 0 ]]; then ok "render --out exits 0"; else head -20 "$work/render.err"; fail "render --out exits 0 (got $rc)"; fi

# The output against the manifest: file counts per environment, app ids, port mappings.
python3 - "$manifest" "$out" "$work/render.out" >"$work/checks.txt" 2>&1 <<'EOF'
import json, os, re, sys
manifest, out, render_out = sys.argv[1], sys.argv[2], sys.argv[3]
m = json.load(open(manifest))
envs = [e["name"] for e in m["environments"]]
svcs = {s["name"]: s for s in m["services"]}
multi = sum(1 for s in svcs.values() if sum(p["expose"] != "none" for p in s["ports"]) > 1)

def files(sub):
    d = os.path.join(out, sub)
    return sorted(f for f in os.listdir(d) if f.endswith(".json")) if os.path.isdir(d) else []

def report(ok, what):
    print(("ok   " if ok else "FAIL ") + what)

want = len(svcs) * len(envs)
got = sum(len(files(os.path.join("marathon", e))) for e in envs)
report(got == want, f"{got} Marathon files = {len(svcs)} services x {len(envs)} environments = {want} "
       f"({multi} services with 2 exposed ports count once)")
got = sum(len(files(os.path.join("kv", e))) for e in envs)
report(got == want, f"{got} KV files = {want}")
for e in envs:
    names = {f[:-5] for f in files(os.path.join("marathon", e))}
    report(names == set(svcs), f"marathon/{e}/ holds exactly the {len(svcs)} services")

bad = []
for e in envs:
    for name, s in svcs.items():
        path = os.path.join(out, "marathon", e, name + ".json")
        try:
            app = json.load(open(path))
        except Exception as ex:  # missing or not JSON
            bad.append(f"{path}: {ex}")
            continue
        if app.get("id") != f"/app/{e}/{name}":
            bad.append(f"{path}: id {app.get('id')!r}")
        mappings = app.get("container", {}).get("docker", {}).get("portMappings", [])
        if [pm.get("containerPort") for pm in mappings] != [p["container"] for p in s["ports"]]:
            bad.append(f"{path}: portMappings {mappings}")
        if app.get("instances") is None:
            bad.append(f"{path}: no instances")
report(not bad, "every Marathon file is JSON with the right id and one portMapping per port"
       + ("" if not bad else ": " + "; ".join(bad[:3])))

for rel in ("kv/platform.json", "haproxy/internal.cfg", "haproxy/external.cfg"):
    p = os.path.join(out, rel)
    report(os.path.isfile(p) and os.path.getsize(p) > 0, f"{rel} written")
cfg = os.path.join(out, "haproxy", "internal.cfg")
binds = re.findall(r"^\s*bind\s+\S*:(\d+)", open(cfg).read(), re.M) if os.path.isfile(cfg) else []
dups = sorted({b for b in binds if binds.count(b) > 1})
report(not dups, f"internal HAProxy binds {len(binds)} ports, none twice" + (f" (twice: {dups[:5]})" if dups else ""))

total = sum(len(fs) for _, _, fs in os.walk(out))
said = re.search(r"wrote (\d+) files", open(render_out).read())
report(bool(said) and int(said.group(1)) == total,
       f"render reports the {total} files it wrote" + ("" if said else " (no 'wrote N files' line)"))
EOF
rc=$?
while IFS= read -r line; do
  case "$line" in
    "ok   "*) ok "${line#ok   }" ;;
    "FAIL "*) fail "${line#FAIL }" ;;
    *) echo "$line" ;;
  esac
done <"$work/checks.txt"
check "the output checks ran to the end" test "$rc" -eq 0

# A broken copy: the second service takes the first one's container port, so their listen
# ports collide in every environment. validate must exit 1 and name the port.
broken="$work/broken"
cp -r "$repo" "$broken"
python3 - "$manifest" "$broken" <<'EOF'
import json, os, sys
m = json.load(open(sys.argv[1]))
a, b = m["services"][0], m["services"][1]
path = os.path.join(sys.argv[2], b["file"])
text = open(path).read()
old = "{container: %d," % b["ports"][0]["container"]
new = "{container: %d," % a["ports"][0]["container"]
open(path, "w").write(text.replace(old, new, 1))
EOF
"$GALLEY" validate "$broken" >/dev/null 2>"$work/broken.err"
rc=$?
check "validate exits 1 on a listen-port collision" test "$rc" -eq 1
check "the collision is reported as a listen port error" grep -q 'listen port .* already used' "$work/broken.err"
"$GALLEY" render "$broken" --out "$work/broken-out" >/dev/null 2>&1
rc=$?
check "render refuses the broken repository" test "$rc" -ne 0 -a ! -e "$work/broken-out/marathon"

# The apply benchmark's path at 10 x 2 (bench/apply.sh): galley apply and the
# marathon-deploy.sh-style baseline each converge a fresh sandbox from empty, checked with
# `galley plan --detailed-exitcode` and Marathon's counts. Shortened health delay and baseline
# poll (~8 s in all); no timing assertions. APPLY_SMOKE=0 skips it.
SANDBOX="${GALLEY_SANDBOX:-$(dirname "$GALLEY")/galley-sandbox}"
if [[ "${APPLY_SMOKE:-1}" == 0 ]]; then
  echo "skip apply benchmark smoke (APPLY_SMOKE=0)"
elif [[ ! -x "$SANDBOX" ]]; then
  fail "galley-sandbox is executable for the apply smoke ($SANDBOX; set GALLEY_SANDBOX=...)"
else
  python3 "$here/apply_bench.py" --smoke --galley "$GALLEY" --sandbox "$SANDBOX" >"$work/apply.txt" 2>&1
  rc=$?
  while IFS= read -r line; do
    case "$line" in
      "ok   "*) ok "apply: ${line#ok   }" ;;
      "FAIL "*) fail "apply: ${line#FAIL }" ;;
    esac
  done <"$work/apply.txt"
  if [[ $rc -ne 0 ]]; then tail -20 "$work/apply.txt"; fi
  check "apply benchmark smoke (10 x 2, galley and baseline) exits 0" test "$rc" -eq 0
fi

# The scale benchmark's path at 10 x 2 (bench/scale_bench.py --smoke): first plan, galley
# apply from empty, converged plans (0 changes, constant request count), drift, the store's
# growth from one converged plan; a few seconds, no timing assertions. SCALE_SMOKE=0 skips it.
if [[ "${SCALE_SMOKE:-1}" == 0 ]]; then
  echo "skip scale benchmark smoke (SCALE_SMOKE=0)"
elif [[ -x "$SANDBOX" ]]; then
  python3 "$here/scale_bench.py" --smoke --galley "$GALLEY" --sandbox "$SANDBOX" >"$work/scale.txt" 2>&1
  rc=$?
  while IFS= read -r line; do
    case "$line" in
      "ok   "*) ok "scale: ${line#ok   }" ;;
      "FAIL "*) fail "scale: ${line#FAIL }" ;;
    esac
  done <"$work/scale.txt"
  if [[ $rc -ne 0 ]]; then tail -20 "$work/scale.txt"; fi
  check "scale benchmark smoke (10 x 2) exits 0" test "$rc" -eq 0
fi

finish
