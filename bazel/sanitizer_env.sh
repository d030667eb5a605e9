#!/usr/bin/env bash
# Runs a test (its path and arguments follow) with the sanitizers' options:
# Bazel's --run_under for --config=asan and --config=ubsan (.bazelrc).
# Processes the test starts (tools under lit, ranks under mpirun) inherit
# them. A finding fails the test: every sanitizer halts on its first error.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
suppressions=""
for candidate in "$0.runfiles/tessel/bazel/lsan.supp" "$here/lsan.supp" \
  "${RUNFILES_DIR:-/nonexistent}/tessel/bazel/lsan.supp"; do
  if [[ -f "$candidate" ]]; then
    suppressions="$(cd "$(dirname "$candidate")" && pwd)/lsan.supp"
    break
  fi
done
if [[ -z "$suppressions" ]]; then
  echo "sanitizer_env: cannot find bazel/lsan.supp" >&2
  exit 1
fi
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_odr_violation=0:strict_string_checks=1:check_initialization_order=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$suppressions:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
exec "$@"
