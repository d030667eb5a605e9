# lit configuration for end-to-end tests: compile with tessel-compile, run
# with tessel-run, compare with references nobody here computed (torch's
# outputs saved by tests/models/generate.py).
import os

import lit.formats

config.name = "Tessel e2e"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".test"]
config.test_source_root = os.path.dirname(os.path.abspath(__file__))
config.test_exec_root = os.path.join(
    os.environ.get("TEST_TMPDIR", "/tmp/tessel-e2e"), "e2e")
config.substitutions.append(
    ("%models", os.path.join(os.path.dirname(config.test_source_root), "models")))
config.substitutions.append(
    ("%train", os.path.join(os.path.dirname(config.test_source_root), "train")))
config.substitutions.append(
    ("%profiles",
     os.path.join(os.path.dirname(os.path.dirname(config.test_source_root)),
                  "compiler", "cost", "profiles")))

# The tessel-run binary itself (from the --path directories run_lit.sh
# gives), for checks on what it links.
config.substitutions.append(("%tessel_run_binary", next(
    (os.path.join(d, "tessel-run") for d in lit_config.path
     if os.path.exists(os.path.join(d, "tessel-run"))), "tessel-run")))

# Machines without an NVIDIA driver (the development and CI machines): the
# cuda backend must refuse to run there with a clear error.
if not os.path.exists("/dev/nvidiactl"):
    config.available_features.add("no-gpu")

# Bazel runs tests in PID namespaces: two mpirun jobs running at once can
# get the same PIDs, hence the same Open MPI job id, and the shared-memory
# transport's segments (/dev/shm/vader_segment.<host>.<jobid>.<rank>) and
# session directories would be the other job's too: a rank then reads the
# other job's messages and crashes. Each test keeps its own, under its own
# temporary directory.
_mpi_dir = os.path.join(config.test_exec_root, "openmpi")
os.makedirs(_mpi_dir, exist_ok=True)
config.environment["OMPI_MCA_btl_vader_backing_directory"] = _mpi_dir
config.environment["OMPI_MCA_orte_tmpdir_base"] = _mpi_dir

# A bound on every mpirun job, mpirun included: once under the full suite's
# load, mpirun never reaped ranks that had exited (on their --timeout) and
# ignored SIGTERM, and only Bazel's 900 s limit ended the test. Open MPI's
# own limit aborts the job with a message naming the limit and a non-zero
# exit. Each job here takes under 30 s on a loaded machine.
config.environment["MPIEXEC_TIMEOUT"] = "240"
# And mpirun's own shutdown, which MPIEXEC_TIMEOUT does not cover: every
# job runs as %mpirun (mpirun-bounded.sh).
config.substitutions.append(
    ("%mpirun", os.path.join(config.test_source_root, "mpirun-bounded.sh")))
