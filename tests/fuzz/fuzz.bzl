"""A fuzz target: a libFuzzer binary under --config=fuzz, else a replayer.

    tessel_fuzzer(name = "plan_fuzzer", srcs = ["PlanFuzz.cpp"], corpus = "plan", deps = [...])

makes `:plan_fuzzer` (the binary) and `:plan_fuzzer_test`, which runs it on
the seed corpus of kind `corpus` (made from tests/models by make_corpus.sh)
and on regressions/<corpus>/ (inputs of earlier findings). bench/fuzz.sh
runs the binaries built with --config=fuzz.
"""

def tessel_fuzzer(name, srcs, corpus, deps = []):
    native.cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        deps = deps + select({
            "//tests/fuzz:libfuzzer": [],
            "//conditions:default": ["//tests/fuzz:replay_main"],
        }),
        linkopts = select({
            "//tests/fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
    )
    native.sh_test(
        name = name + "_test",
        size = "medium",
        srcs = ["//tests/fuzz:replay.sh"],
        args = [
            "$(rootpath :%s)" % name,
            corpus,
            "$(rootpath //tools:tessel-compile)",
        ],
        data = [
            ":" + name,
            "//tests/fuzz:make_corpus.sh",
            "//tests/fuzz:regressions",
            "//tests/models",
            "//tools:tessel-compile",
        ],
    )
