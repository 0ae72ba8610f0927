#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs dependencies, builds once,
# runs unit + integration tests, the example and benchmark smoke checks, then repeats the
# unit and integration tests under AddressSanitizer + UndefinedBehaviorSanitizer and the
# threaded ones under ThreadSanitizer.
set -euo pipefail
source "$(dirname "$0")/env.sh"
start=$SECONDS

# Variables that make tests rewrite their expectations or skip some of them: a run with one
# set proves nothing, so it is an error here (the tests themselves also fail when CI=true).
for var in UPDATE_GOLDEN GALLEY_E2E_ONLY; do
  if [ -n "${!var:-}" ]; then
    echo "ci/test.sh: $var is set; unset it (it rewrites or skips tests, so the run would prove nothing)" >&2
    exit 1
  fi
done

log "install dependencies"
bash "$GALLEY_ROOT/ci/install-deps.sh"

log "format (clang-format-14, .clang-format)"
bash "$GALLEY_ROOT/ci/check-format.sh"

bash "$GALLEY_ROOT/ci/build.sh" normal
log "tests (normal build)"
# Every label, the dashboard's real-browser tests (label browser: Debian's chromium,
# chromium-driver, python3-selenium from install-deps) included; here a missing browser fails
# them instead of skipping them.
export GALLEY_REQUIRE_BROWSER=1
(cd "$GALLEY_ROOT/build" && ctest -j "$JOBS" --output-on-failure --timeout 300)
log "browser tests ran: $(cd "$GALLEY_ROOT/build" && ctest -N -L browser | tail -1)"

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

# ThreadSanitizer over the threaded tests (executor, lock renewal, HTTP server and client,
# emulators, store). Measured on 2 cores: a cold build of tsan_tests took 13 CPU-minutes,
# the 330 tests 150 s; GALLEY_SKIP_TSAN=1 leaves it out for a quick local run.
if [ "${GALLEY_SKIP_TSAN:-0}" != 1 ]; then
  bash "$GALLEY_ROOT/ci/build.sh" tsan
  log "tests (TSan): the threaded tests"
  # ci/tsan.supp: third-party code only, each entry with its reason.
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$GALLEY_ROOT/ci/tsan.supp"
  (cd "$GALLEY_ROOT/build-tsan" && ctest -j "$JOBS" -L tsan --output-on-failure --timeout 600)
fi
log "all tests passed in $((SECONDS - start)) s"
