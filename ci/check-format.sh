#!/usr/bin/env bash
# Fails when a C++ file in the tree differs from what clang-format makes of it with the
# repository's .clang-format, listing the files and the command that fixes them.
# clang-format is pinned to Debian 12's version 14: other versions wrap some lines
# differently, so "clean" is only meaningful against one version.
#   ci/check-format.sh         check (CI)
#   ci/check-format.sh --fix   rewrite the files in place
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$GALLEY_ROOT"
fmt=clang-format-14
command -v "$fmt" >/dev/null || { echo "check-format: $fmt is not installed (ci/install-deps.sh)" >&2; exit 1; }
# tests/testdata holds fixtures whose exact bytes tests assert (line numbers, include order).
mapfile -t files < <(git ls-files -- '*.cc' '*.h' ':!:tests/testdata/**')
if [ "${1:-}" = "--fix" ]; then
  "$fmt" -i "${files[@]}"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: ${#bad[@]} file(s) differ from .clang-format ($fmt):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "fix with: bash ci/check-format.sh --fix" >&2
  exit 1
fi
echo "check-format: ${#files[@]} files clean"
