#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `galley apply` converging SERVICES x ENVIRONMENTS (500 x 2) from empty in galley-sandbox,
# against a marathon-deploy.sh-style baseline that deploys one app at a time
# (bench/baseline_deploy.sh); target: galley at least 5x faster. See bench/apply_bench.py
# and bench/README.md. Takes ~45 min with the full baseline run (~25 min of it);
# BASELINE_FULL=0 skips that run and prints an explicitly estimated ratio instead.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
extra=()
[[ "${BASELINE_FULL:-1}" == 0 ]] && extra+=(--no-baseline-full)
[[ "${COUNT_REQUESTS:-1}" == 0 ]] && extra+=(--no-count-requests)
[[ -n "${JSON:-}" ]] && extra+=(--json "$JSON")
[[ "${KEEP:-0}" == 1 ]] && extra+=(--keep)
for arg in ${GALLEY_APPLY_ARGS:-}; do extra+=("--galley-arg=$arg"); done  # e.g. "--concurrency=64"
exec python3 "$root/bench/apply_bench.py" --galley "${GALLEY:-$root/build/bin/galley}" \
  --sandbox "${GALLEY_SANDBOX:-$root/build/bin/galley-sandbox}" --services "${SERVICES:-500}" \
  --environments "${ENVIRONMENTS:-2}" --runs "${RUNS:-3}" --baseline-subset "${BASELINE_SUBSET:-100}" \
  --baseline-runs "${BASELINE_RUNS:-3}" --target-ratio "${TARGET_RATIO:-5}" ${extra[@]+"${extra[@]}"}
