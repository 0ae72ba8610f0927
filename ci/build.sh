#!/usr/bin/env bash
# Configures and builds galley and its tests.
#   ci/build.sh            normal build (-O2) into build/
#   ci/build.sh sanitize   ASan+UBSan build (-O0, no -g: DESIGN §7.1) into build-asan/
#   ci/build.sh tsan       ThreadSanitizer build (-O0, no -g) of the threaded tests only
#                          (target tsan_tests, listed in tests/CMakeLists.txt) into build-tsan/
set -euo pipefail
source "$(dirname "$0")/env.sh"
kind="${1:-normal}"
targets=()  # all
case "$kind" in
  normal)   dir="$GALLEY_ROOT/build";      flags=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O2) ;;
  sanitize) dir="$GALLEY_ROOT/build-asan"; flags=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DGALLEY_SANITIZE=ON) ;;
  tsan)     dir="$GALLEY_ROOT/build-tsan"; flags=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DGALLEY_SANITIZE=thread)
            targets=(tsan_tests) ;;
  *) echo "usage: ci/build.sh [normal|sanitize|tsan]" >&2; exit 1 ;;
esac
log "configure ($kind) in $dir"
cmake -S "$GALLEY_ROOT" -B "$dir" -G Ninja "${flags[@]}" -DGALLEY_BUILD_TESTS=ON >/dev/null
log "build ($kind)"
ninja -C "$dir" -j "$JOBS" "${targets[@]}"
command -v ccache >/dev/null && ccache --show-stats 2>/dev/null | grep -Ei 'hits|misses' | head -4 || true
