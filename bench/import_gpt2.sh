#!/usr/bin/env bash
# Import time of a deep GPT-2-style ONNX model (48 layers, width 1024, about
# 600M parameters held as ONNX external data), against a peer measured in the
# same run: Python onnx loading the same graph (without weights) and running
# its shape inference.
#
#   bench/import_gpt2.sh [--layers N] [--width D] [--runs R]
#
# Generates the model once into $TESSEL_BENCH_DIR (default
# /tmp/tessel-bench), which needs torch (./setup.sh --models). Target: import
# under 2 s on the 2-core development machine, weights excluded from the IR.
set -euo pipefail
cd "$(dirname "$0")/.."

layers=48 width=1024 runs=5
while (($#)); do
  case "$1" in
    --layers) layers="$2"; shift 2 ;;
    --width) width="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
model="$(gpt2_bench_model "$layers" "$width" 1024)"
compile="$(opt_bazel_bin //tools:tessel-compile)/tools/tessel-compile"

/usr/bin/python3 - "$compile" "$model" "$runs" <<'PY'
import os, statistics, subprocess, sys, time
import onnx

compile, model, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
out = os.path.join(os.path.dirname(model), "imported.mlir")
params = os.path.join(os.path.dirname(model), "imported.params")

def timed(fn):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)

def tessel(extra):
    subprocess.run([compile, model, "--input-shape", "ids=1x128", "-o", out] + extra,
                   check=True)

def peer():
    graph = onnx.load(model, load_external_data=False)
    onnx.shape_inference.infer_shapes(graph)

tessel([])  # warm the page cache
import_seconds = timed(lambda: tessel([]))
with_params_seconds = timed(lambda: tessel(["--params-out", params]))
peer_seconds = timed(peer)
mlir_bytes = os.path.getsize(out)
weight_bytes = sum(os.path.getsize(os.path.join(os.path.dirname(model), f))
                   for f in os.listdir(os.path.dirname(model)) if f.endswith(".data"))
print("model: %s (%.1f GB of weights as external data)" % (model, weight_bytes / 1e9))
print("tessel-compile import (parse, check, import, verify, print): %.3f s (median of %d)"
      % (import_seconds, runs))
print("tessel-compile import + parameter file: %.3f s" % with_params_seconds)
print("peer, python onnx.load (graph only) + shape inference: %.3f s" % peer_seconds)
print("ratio tessel import / peer: %.2f" % (import_seconds / peer_seconds))
print("imported MLIR: %.1f KB (weights excluded: %s)" % (mlir_bytes / 1e3,
      "yes" if mlir_bytes < 0.01 * weight_bytes else "NO"))
print("target: import under 2 s: %s" % ("met" if import_seconds < 2 else "MISSED"))
PY
