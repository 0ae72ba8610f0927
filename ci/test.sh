#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs dependencies, builds once,
# runs unit + integration tests, the example and benchmark smoke checks, then repeats the
# unit and integration tests under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
source "$(dirname "$0")/env.sh"
start=$SECONDS

log "install dependencies"
bash "$GALLEY_ROOT/ci/install-deps.sh"

bash "$GALLEY_ROOT/ci/build.sh" normal
log "tests (normal build)"
(cd "$GALLEY_ROOT/build" && ctest -j "$JOBS" --output-on-failure --timeout 300)

log "examples"
bash "$GALLEY_ROOT/ci/check-examples.sh" "$GALLEY_ROOT/build/bin/galley"

if [ -x "$GALLEY_ROOT/bench/smoke.sh" ] || [ -f "$GALLEY_ROOT/bench/smoke.sh" ]; then
  log "benchmark smoke run"
  GALLEY="$GALLEY_ROOT/build/bin/galley" bash "$GALLEY_ROOT/bench/smoke.sh"
fi

if [ "${GALLEY_SKIP_SANITIZE:-0}" != 1 ]; then
  bash "$GALLEY_ROOT/ci/build.sh" sanitize
  log "tests (ASan+UBSan): unit and integration"
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  (cd "$GALLEY_ROOT/build-asan" && ctest -j "$JOBS" -L 'unit|integration' --output-on-failure --timeout 600)
fi
log "all tests passed in $((SECONDS - start)) s"
