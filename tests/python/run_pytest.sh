#!/usr/bin/env bash
# Runs pytest on the given test files with Debian's /usr/bin/python3 (where
# numpy, torch and onnx are) and the `tessel` package from this tree's
# runfiles. pytest's own per-test deadline is the Bazel timeout; `timeout`
# turns a hang into a failure with a message before it.
set -euo pipefail
export PYTHONPATH="$PWD/python"
export TESSEL_MODELS="$PWD/tests/models"
export PYTHONDONTWRITEBYTECODE=1
exec timeout --kill-after=10 270 /usr/bin/python3 -m pytest -q \
  -p no:cacheprovider --basetemp="$TEST_TMPDIR/pytest" "$@"
