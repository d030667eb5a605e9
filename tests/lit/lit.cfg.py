# lit configuration for Tessel's FileCheck tests. Bazel runs one directory per
# test target (see //bazel:lit.bzl); tools come on PATH.
import os

import lit.formats

config.name = "Tessel"
config.test_format = lit.formats.ShTest(execute_external=False)
# .mlir: MLIR input; .test: several inputs in one file, cut by split-file.
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(os.path.abspath(__file__))
# Under Bazel, scratch files (%t) go to the test's private temporary directory.
config.test_exec_root = os.path.join(
    os.environ.get("TEST_TMPDIR", "/tmp/tessel-lit"), "lit")
# Committed models (tests/models), for RUN lines that import them.
config.substitutions.append(
    ("%models", os.path.join(os.path.dirname(config.test_source_root), "models")))
# Device profiles of the cost model (compiler/cost/profiles).
config.substitutions.append(
    ("%profiles",
     os.path.join(os.path.dirname(os.path.dirname(config.test_source_root)),
                  "compiler", "cost", "profiles")))
