"""lit + FileCheck tests, one Bazel test target per lit directory.

    # tests/lit/graph/BUILD.bazel
    load("//bazel:lit.bzl", "lit_test_suite")
    lit_test_suite(name = "lit")

runs every *.mlir file of the package with Debian's lit, using the
configuration in tests/lit/lit.cfg.py (or `config`). `tools` are put on PATH (tessel-opt by
default), as are FileCheck, not and split-file.
"""

def lit_test_suite(
        name,
        srcs = None,
        tools = ["//tools:tessel-opt"],
        data = [],
        config = "//tests/lit:lit.cfg.py",
        size = "small",
        **kwargs):
    if srcs == None:
        srcs = native.glob(["*.mlir", "*.test"])
    if not srcs:
        fail("lit_test_suite %s: no tests" % name)
    native.sh_test(
        name = name,
        srcs = ["//bazel:run_lit.sh"],
        args = [native.package_name()] +
               ["$(rootpath %s)" % t for t in tools] +
               ["$(rootpath @llvm//:bin/FileCheck)"],
        data = srcs + tools + data + [
            config,
            "@llvm//:bin/FileCheck",
            "@llvm//:bin/lit",
            "@llvm//:lit_tools",
        ],
        size = size,
        **kwargs
    )
