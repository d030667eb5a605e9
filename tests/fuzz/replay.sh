#!/usr/bin/env bash
# A fuzz target's test: replays its seed corpus and earlier findings.
#   replay.sh <fuzz target binary> <corpus kind> <tessel-compile>
set -euo pipefail
binary="$1" kind="$2" compile="$3"
corpus="${TEST_TMPDIR:-$(mktemp -d)}/corpus"
tests/fuzz/make_corpus.sh "$compile" tests/models "$corpus"
inputs=("$corpus/$kind")
if [[ -d "tests/fuzz/regressions/$kind" ]]; then
  inputs+=("tests/fuzz/regressions/$kind")
fi
exec "$binary" "${inputs[@]}"
