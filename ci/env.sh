# Sourced by the ci/ scripts: shared settings for builds and ccache.
# ccache's base_dir makes absolute paths under the checkout relative in its hashes, so a
# fresh clone in another folder (as CI uses) hits the cache warmed while working.
GALLEY_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CCACHE_BASEDIR="$GALLEY_ROOT"
export CCACHE_NOHASHDIR=1
# With GALLEY_PCH (default ON) the compiler launcher adds CCACHE_SLOPPINESS=pch_defines,time_macros,
# which ccache needs to cache anything compiled with a precompiled header (cmake/GalleyPch.cmake).
export CCACHE_MAXSIZE="${CCACHE_MAXSIZE:-5G}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
JOBS="${JOBS:-$(nproc)}"

log() { printf '\n==> %s\n' "$*"; }
