#!/usr/bin/env bash
# Runs the lit tests of one directory (or one file) under Bazel.
#   run_lit.sh <test directory or file> <tool>...
# Each tool's directory is put on lit's PATH. Results go to Bazel's
# XML_OUTPUT_FILE so that .ci/run can count individual tests.
set -euo pipefail
test_dir="$1"
shift
path_args=()
for tool in "$@"; do
  path_args+=(--path "$(cd "$(dirname "$tool")" && pwd)")
done
xml_args=()
if [[ -n "${XML_OUTPUT_FILE:-}" ]]; then
  xml_args=(--xunit-xml-output "$XML_OUTPUT_FILE")
fi
exec ../llvm/bin/lit -v "${path_args[@]}" "${xml_args[@]}" "$test_dir"
