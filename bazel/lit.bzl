"""lit + FileCheck tests, one Bazel test target per lit directory.

    # tests/lit/graph/BUILD.bazel
    load("//bazel:lit.bzl", "lit_test_suite")
    lit_test_suite(name = "lit")

runs every *.mlir file of the package with Debian's lit, using the
configuration in tests/lit/lit.cfg.py (or `config`). `tools` are put on PATH (tessel-opt by
default), as are FileCheck, not and split-file.

With `per_file = True`, each file is a test target of its own, named after
the file (`mpi.test` -> `:mpi_test`), and `name` is a test_suite of them: a
hang or failure is then one named target, and files run in parallel.
"""

def lit_test_suite(
        name,
        srcs = None,
        tools = ["//tools:tessel-opt"],
        data = [],
        config = "//tests/lit:lit.cfg.py",
        size = "small",
        per_file = False,
        **kwargs):
    if srcs == None:
        srcs = native.glob(["*.mlir", "*.test"])
    if not srcs:
        fail("lit_test_suite %s: no tests" % name)
    if not per_file:
        _lit_test(name, native.package_name(), srcs, tools, data, config, size, kwargs)
        return
    tests = []
    for src in srcs:
        test = src.replace(".", "_").replace("-", "_")

        # Every file is data of every target: a test may read another's
        # inputs (split-file %S/other.test).
        _lit_test(test, native.package_name() + "/" + src, srcs, tools, data, config, size, kwargs)
        tests.append(test)
    native.test_suite(name = name, tests = tests)

def _lit_test(name, path, srcs, tools, data, config, size, kwargs):
    native.sh_test(
        name = name,
        srcs = ["//bazel:run_lit.sh"],
        args = [path] +
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
