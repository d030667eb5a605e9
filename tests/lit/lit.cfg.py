# lit configuration for Tessel's FileCheck tests. Bazel runs one directory per
# test target (see //bazel:lit.bzl); tools come on PATH.
import os

import lit.formats

config.name = "Tessel"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir"]
config.excludes = ["Inputs"]
config.test_source_root = os.path.dirname(os.path.abspath(__file__))
# Under Bazel, scratch files (%t) go to the test's private temporary directory.
config.test_exec_root = os.path.join(
    os.environ.get("TEST_TMPDIR", "/tmp/tessel-lit"), "lit")
