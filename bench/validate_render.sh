#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Scale benchmark: `galley validate` and `galley render --out` on a generated repository of
# SERVICES services x ENVIRONMENTS environments (default 2,000 x 3, the target of the issue:
# validate + render of everything under 1 s wall and under 200 MB peak RSS).
#
#   bench/validate_render.sh
#   GALLEY=/path/to/galley SERVICES=500 ENVIRONMENTS=2 RUNS=7 bench/validate_render.sh
#
# Environment: GALLEY (default build/bin/galley under the repository root), SERVICES (2000),
# ENVIRONMENTS (3), RUNS (5 counted runs, after 1 warm-up), TARGET_WALL_S (1.0),
# TARGET_PEAK_MB (200), KEEP=1 to keep the work directory, TMPDIR (where the repository and
# the output go; render --out creates ~2 x SERVICES x ENVIRONMENTS files, so the filesystem
# matters: TMPDIR=/dev/shm measures galley without the disk).
# Exit status: 0 when `render --out` (one process: validate + render everything) meets both targets, 1 when it misses one, 2 on an
# error (galley failed, wrong output, missing binary).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
GALLEY="${GALLEY:-$root/build/bin/galley}"
case "$GALLEY" in /*) ;; *) [[ "$GALLEY" == */* ]] && GALLEY="$root/$GALLEY" ;; esac
SERVICES="${SERVICES:-2000}"
ENVIRONMENTS="${ENVIRONMENTS:-3}"
RUNS="${RUNS:-5}"
TARGET_WALL_S="${TARGET_WALL_S:-1.0}"
TARGET_PEAK_MB="${TARGET_PEAK_MB:-200}"

die() { echo "validate_render.sh: $*" >&2; exit 2; }

# The binary may be briefly absent while it is being rebuilt: wait up to a minute.
for _ in $(seq 60); do [[ -x "$GALLEY" ]] && break; sleep 1; done
[[ -x "$GALLEY" ]] || die "no executable galley at $GALLEY (set GALLEY=...)"

work="$(mktemp -d "${TMPDIR:-/tmp}/galley-bench.XXXXXX")"
if [[ "${KEEP:-0}" == 1 ]]; then
  echo "work directory: $work"
else
  trap 'rm -rf "$work"' EXIT
fi
repo="$work/repo"
out="$work/out"
results="$work/results.jsonl"

echo "galley: $GALLEY (built $(date -r "$GALLEY" '+%F %T'))"
echo "work directory filesystem: $(stat -f -c %T "$work") ($work)"
echo "== generating $SERVICES services x $ENVIRONMENTS environments"
python3 "$here/gen_repo.py" "$repo" --services "$SERVICES" --environments "$ENVIRONMENTS"

echo "== checking the repository once"
if ! "$GALLEY" validate "$repo" >"$work/validate.out" 2>"$work/validate.err"; then
  head -40 "$work/validate.err" >&2
  die "galley validate failed on the generated repository"
fi
cat "$work/validate.out"
[[ -s "$work/validate.err" ]] && echo "note: validate printed $(grep -c . "$work/validate.err") diagnostic lines"
"$GALLEY" render "$repo" --out "$out" >"$work/render.out" 2>"$work/render.err" ||
  { head -40 "$work/render.err" >&2; die "galley render --out failed"; }
cat "$work/render.out"
marathon_files=$(find "$out/marathon" -type f -name '*.json' | wc -l)
all_files=$(find "$out" -type f | wc -l)
expected=$((SERVICES * ENVIRONMENTS))
echo "wrote $all_files files, $marathon_files Marathon apps (expected $expected), $(du -sh "$out" | cut -f1)"
[[ "$marathon_files" -eq "$expected" ]] || die "expected $expected Marathon files, found $marathon_files"

measure() {
  local label="$1"; shift
  python3 "$here/measure.py" --runs "$RUNS" --warmup 1 --label "$label" --json "$results" -- "$@" ||
    die "$label: a run exited non-zero"
}

echo "== measuring ($RUNS runs each after 1 warm-up; output discarded)"
measure "validate" "$GALLEY" validate "$repo"
measure "render --out" "$GALLEY" render "$repo" --out "$out"
# shellcheck disable=SC2016 # $0..$2 expand in the inner shell
measure "validate + render" sh -c '"$0" validate "$1" && "$0" render "$1" --out "$2"' "$GALLEY" "$repo" "$out"

echo "== summary ($SERVICES x $ENVIRONMENTS, $(nproc) cores, medians)"
python3 - "$results" "$TARGET_WALL_S" "$TARGET_PEAK_MB" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
wall_t, peak_t = float(sys.argv[2]), float(sys.argv[3])
print(f"  {'command':20s} {'wall s':>8s} {'cpu s':>8s} {'peak MB':>8s}")
for r in rows:
    print(f"  {r['label']:20s} {r['wall']:8.3f} {r['user'] + r['sys']:8.3f} {r['peak_mb']:8.1f}")
# The target is "validate + render of everything": `render --out` is that in one process (it
# loads and validates the whole repository, then renders every artifact). The separate
# `validate` then `render` row loads the repository twice and is shown for reference.
c = next(r for r in rows if r["label"] == "render --out")
ok = c["wall"] < wall_t and c["peak_mb"] < peak_t
verdict = "PASS" if ok else "FAIL"
print(f"{verdict}: render --out (validate + render of everything) median wall {c['wall']:.3f} s "
      f"(target < {wall_t:g} s), peak RSS {c['peak_mb']:.1f} MB (target < {peak_t:g} MB)")
sys.exit(0 if ok else 1)
EOF
