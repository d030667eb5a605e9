#!/usr/bin/env bash
# Bazel's entry to run_guide.py: the tools, models and Python package from
# the runfiles.
set -euo pipefail
here="$(dirname "$0")"
runfiles="${RUNFILES_DIR:-$0.runfiles}/tessel"
# `import tessel` finds this tree's package, as setup.sh installs it.
export PYTHONPATH="$runfiles/python"
exec /usr/bin/python3 "$runfiles/tests/guide/run_guide.py" \
  --tools "$(dirname "$runfiles/$1")" --models "$runfiles/tests/models" \
  --train "$runfiles/tests/train" \
  "$runfiles/docs/user-guide.md" "$runfiles/README.md"
