#!/usr/bin/env bash
# Random sharded programs (tests/random/RandomProgram.h) checked against the
# single-device program, many more than CI runs: by default 5000 seeds from
# one drawn from the clock, so every soak covers new programs.
#   bench/partition_soak.sh [--seed N] [--cases N] [--print]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
args=("$@")
if [[ " $* " != *" --seed "* ]]; then
  args+=(--seed "$(date +%s)")
fi
if [[ " $* " != *" --cases "* ]]; then
  args+=(--cases 5000)
fi
"$(opt_bazel_bin //bench:partition_soak)/bench/partition_soak" "${args[@]}"
