"""CUDA targets that exist only where the CUDA toolkit was found.

    load("//bazel:cuda.bzl", "cuda_library", "cuda_cc_test", "if_cuda")

    cuda_library(
        name = "kernels",
        srcs = ["Fill.cu", "Devices.cpp"],
        hdrs = ["Fill.h", "Devices.h"],
        deps = ["@local_cuda//:nccl"],
    )

.cu files are compiled by nvcc (by absolute path, for sm_80 and sm_90) and
may include the target's own `hdrs` and CUDA's headers; .cpp files are compiled
by the C++ toolchain as usual. Where CUDA was not found (see
cuda_configure.bzl) these macros define nothing, so a CUDA target must only be
depended on through `if_cuda(...)` or from other CUDA targets.
"""

load("@local_cuda//:defs.bzl", "CUDA_FOUND", "CUDA_PATH", "CUDNN_FOUND", "NVCC")

# GPU architectures the kernels are built for: A100 (sm_80) and H100 (sm_90).
CUDA_ARCHS = ["80", "90"]

def if_cuda(if_true, if_false = []):
    return if_true if CUDA_FOUND else if_false

def if_cudnn(if_true, if_false = []):
    """`if_true` where CUDA and cuDNN were both found."""
    return if_true if CUDNN_FOUND else if_false

def cuda_library(name, srcs, hdrs = [], deps = [], nvcc_flags = [], nvcc_hdrs = [], **kwargs):
    """`nvcc_hdrs`: headers of other targets that the .cu files include."""
    if not CUDA_FOUND:
        return
    gencode = " ".join([
        "-gencode arch=compute_{a},code=sm_{a}".format(a = a)
        for a in CUDA_ARCHS
    ])
    objects = []
    cc_srcs = []
    for src in srcs:
        if not src.endswith(".cu"):
            cc_srcs.append(src)
            continue
        obj = "_%s_objs/%s.pic.o" % (name, src[:-len(".cu")])
        native.genrule(
            name = "%s_nvcc_%s" % (name, src.replace("/", "_").replace(".", "_")),
            srcs = [src] + hdrs + nvcc_hdrs,
            outs = [obj],
            cmd = ("{nvcc} -std=c++17 -O3 -Xcompiler -fPIC {gencode} {flags} " +
                   "-I . -I $(GENDIR) -isystem {cuda}/include " +
                   "-c $(location {src}) -o $@").format(
                nvcc = NVCC,
                gencode = gencode,
                flags = " ".join(nvcc_flags),
                cuda = CUDA_PATH,
                src = src,
            ),
            message = "nvcc %s" % src,
        )
        objects.append(obj)
    native.cc_library(
        name = name,
        srcs = cc_srcs + objects,
        hdrs = hdrs,
        deps = deps + ["@local_cuda//:cudart"],
        alwayslink = True,
        **kwargs
    )

def cuda_cc_test(name, **kwargs):
    """A cc_test that exists only where CUDA was found. It must still skip
    (GTEST_SKIP with the reason) when the machine has no GPU."""
    if CUDA_FOUND:
        native.cc_test(name = name, **kwargs)

def cuda_binary(name, **kwargs):
    """A cc_binary that exists only where CUDA was found."""
    if CUDA_FOUND:
        native.cc_binary(name = name, **kwargs)
