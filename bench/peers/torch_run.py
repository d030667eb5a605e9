#!/usr/bin/python3
"""Runs the benchmark GPT-2 in PyTorch (Debian's torch, CPU): the module that
tests/models/generate.py exported, rebuilt with the same seed and so the same
weights. Prints time per run and peak memory, for bench/gpt2_host.sh.

    torch_run.py layers width vocab ids.bin 4x128 iterations threads out.bin
"""
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "models"))
import generate  # noqa: E402

layers, width, vocab = (int(v) for v in sys.argv[1:4])
ids_file, shape, iterations, threads, out_file = sys.argv[4:9]
torch.set_num_threads(int(threads))
shape = tuple(int(d) for d in shape.split("x"))
ids = torch.from_numpy(np.fromfile(ids_file, dtype=np.int64).reshape(shape))
model = generate.bench_gpt2(layers, width, vocab)
with torch.no_grad():
    output = model(ids)
    start = time.perf_counter()
    for _ in range(int(iterations)):
        output = model(ids)
    seconds = (time.perf_counter() - start) / int(iterations)
output.numpy().astype(np.float32).tofile(out_file)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("time per run: %.3f ms (%s runs), peak memory %.0f MB" % (seconds * 1e3, iterations, peak))
