#!/usr/bin/env bash
# Formats Tessel's C++ and CUDA sources with the repository's .clang-format.
#   bazel/format.sh          rewrite files in place
#   bazel/format.sh --check  list files that are not formatted; exit 1 if any
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cc')
if [[ ${#files[@]} -eq 0 ]]; then exit 0; fi
if [[ "${1:-}" == "--check" ]]; then
  exec clang-format --dry-run -Werror "${files[@]}"
fi
exec clang-format -i "${files[@]}"
