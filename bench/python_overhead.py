"""Times the `tessel` package (bench/embedding.sh runs it).

    python_overhead.py MODEL INPUT_NAME D0xD1x... MESH ITERATIONS

Prints the first and the best of five compile times of tessel.compile, then the median
microseconds per run of Executable.run({name: array}), of a positional
call, and of a tessel.torch module call on the same model, each from memory
with the same buffers as api_overhead's C++ loop.
"""
import statistics
import sys
import time

import numpy as np

import tessel
from tessel import P

model, name, shape, mesh, iterations = sys.argv[1:6]
dims = [int(d) for d in shape.split("x")]
iterations = int(iterations)
plan = None
if mesh:
    plan = {name: P(mesh.split("=")[0], *([None] * (len(dims) - 1)))}

compile_times = []
for _ in range(5):
    start = time.perf_counter()
    executable = tessel.compile(model, input_shapes={name: dims},
                                mesh=mesh or None, plan=plan)
    compile_times.append(time.perf_counter() - start)
print(f"compile_first_seconds {compile_times[0]:.4f}")
print(f"compile_seconds {min(compile_times):.4f}")

info = executable.inputs[0]
array = np.zeros(info.shape, dtype=info.dtype)


def median_us(call):
    for _ in range(10):
        call()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e6)
    return statistics.median(times)


print(f"run_dict_us {median_us(lambda: executable.run({name: array})):.2f}")
print(f"run_call_us {median_us(lambda: executable(array)):.2f}")
try:
    import torch
    import tessel.torch
    compiled = tessel.torch.CompiledModule(executable, [name])
    tensor = torch.from_numpy(array)
    print(f"torch_call_us {median_us(lambda: compiled(tensor)):.2f}")
except ImportError:
    pass
