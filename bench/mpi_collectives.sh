#!/usr/bin/env bash
# Tessel's MPI collectives on 2 and 4 local ranks against Open MPI's own
# calls and the host backend's device threads (same bytes, same run), for
# sizes from 4 KiB to 64 MiB per rank.
#   bench/mpi_collectives.sh [--sizes 4k,64k,1m,16m,64m] [--runs 5]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
bin="$(opt_bazel_bin //bench:mpi_collectives)/bench/mpi_collectives"
for ranks in 2 4; do
  mpirun --oversubscribe --allow-run-as-root -np "$ranks" "$bin" "$@"
done
