#!/usr/bin/env bash
# Host collective bandwidth (device threads) against memcpy, measured in the
# same run: see bench/host_collectives.cpp.
#
#   bench/host_collectives.sh [--mib 64] [--runs 5]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
"$(opt_bazel_bin //bench:host_collectives)/bench/host_collectives" "$@"
