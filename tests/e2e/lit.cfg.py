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
    ("%profiles",
     os.path.join(os.path.dirname(os.path.dirname(config.test_source_root)),
                  "compiler", "cost", "profiles")))

# Machines without an NVIDIA driver (the development and CI machines): the
# cuda backend must refuse to run there with a clear error.
if not os.path.exists("/dev/nvidiactl"):
    config.available_features.add("no-gpu")
