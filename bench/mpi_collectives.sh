#!/usr/bin/env bash
# MPI collective bandwidth on 2 and 4 local ranks against the host
# backend's device threads (same bytes, same run).
#   bench/mpi_collectives.sh [--mib 16] [--runs 5]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin="$(opt_bazel_bin //bench:mpi_collectives)/bench/mpi_collectives"
for ranks in 2 4; do
  mpirun --oversubscribe --allow-run-as-root -np "$ranks" "$bin" "$@"
done
