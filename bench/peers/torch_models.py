#!/usr/bin/python3
"""Runs one of the benchmarks' convolutional networks in PyTorch (Debian's
torch, CPU), rebuilt with the seed tests/models/generate.py exported it
with. Prints time per run and peak memory, for bench/host_models.sh.

    torch_models.py resnet_bench|mobilenet_bench iterations threads out.bin
"""
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "models"))
import generate  # noqa: E402

name, iterations, threads, out_file = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
model, x = generate.conv_bench_model(name)
with torch.no_grad():
    output = model(x)
    start = time.perf_counter()
    for _ in range(iterations):
        output = model(x)
    seconds = (time.perf_counter() - start) / iterations
output.numpy().astype("float32").tofile(out_file)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("time per run: %.3f ms (%d runs), peak memory %.0f MB" % (seconds * 1e3, iterations, peak))
