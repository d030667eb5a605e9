#!/usr/bin/env bash
# NCCL bus bandwidth per collective kind on this machine's GPUs, the way
# nccl-tests reports it (algbw, busbw). On a machine without a GPU it says
# so and exits 0.
#   bench/gpu/nccl_bandwidth.sh [--min_bytes 1024] [--max_bytes 268435456]
#                               [--factor 4] [--iterations 20] [--gpus N]
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
bin="$(opt_bazel_bin //bench/gpu:nccl_bandwidth)/bench/gpu/nccl_bandwidth"
if [[ ! -x "$bin" ]]; then
  echo "nccl_bandwidth: skipped: this build has no CUDA (toolkit or NCCL not found)"
  exit 0
fi
"$bin" "$@"
