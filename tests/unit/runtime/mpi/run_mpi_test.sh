#!/usr/bin/env bash
# Runs an MPI test binary under mpirun with 2, 3 and 4 ranks on this host.
#   run_mpi_test.sh <mpirun> <binary>
set -euo pipefail
mpirun="$1" binary="$2"
# Every rank would claim Bazel's premature-exit marker: none does.
unset TEST_PREMATURE_EXIT_FILE
# Bazel's PID namespaces can give two concurrent jobs one Open MPI job id,
# hence one set of shared-memory segments: keep this test's apart
# (tests/e2e/lit.cfg.py says more).
mpi_dir="${TEST_TMPDIR:-/tmp}/openmpi"
mkdir -p "$mpi_dir"
export OMPI_MCA_btl_vader_backing_directory="$mpi_dir"
export OMPI_MCA_orte_tmpdir_base="$mpi_dir"
for ranks in 2 3 4; do
  echo "== $ranks ranks"
  "$mpirun" --oversubscribe --allow-run-as-root -np "$ranks" "$binary" \
    --gtest_brief=1
done
