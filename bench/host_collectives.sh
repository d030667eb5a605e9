#!/usr/bin/env bash
# Host collective bandwidth (device threads) against memcpy, measured in the
# same run: see bench/host_collectives.cpp.
#
#   bench/host_collectives.sh [--mib 64] [--runs 5]
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build --config=opt //bench:host_collectives >/dev/null 2>&1
"$(bazel info --config=opt bazel-bin 2>/dev/null)/bench/host_collectives" "$@"
