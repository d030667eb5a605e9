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
# A hang is a failure with its output: lit ends a test one minute before
# Bazel's limit (TEST_TIMEOUT) and prints what its commands wrote, where
# Bazel's own kill would leave only "TIMEOUT". mpirun's MPIEXEC_TIMEOUT
# (tests/e2e/lit.cfg.py) did not fire once when mpirun itself was stuck.
# lit needs psutil for this (python3-psutil, installed by setup.sh).
timeout_args=()
if [[ -n "${TEST_TIMEOUT:-}" ]] && (( TEST_TIMEOUT > 120 )); then
  timeout_args=(--timeout "$(( TEST_TIMEOUT - 60 ))")
fi
exec ../llvm/bin/lit -v "${timeout_args[@]}" "${path_args[@]}" "${xml_args[@]}" "$test_dir"
