#!/usr/bin/env bash
# Sharding propagation time on a deep GPT-2-style graph: 96 layers on a 2x4
# mesh with only the input annotated (batch over x, sequence over y), so
# that propagation alone decides every other tensor. Figures: the
# --spmd-propagate pass time (MLIR's pass timing), the whole compile to a
# plan, and, measured in the same run, the peer: Python onnx shape inference
# over the same graph, a whole-graph analysis of the same size.
#
#   bench/propagation_gpt2.sh [--layers N] [--width D] [--runs R]
#
# Generates the model once into $TESSEL_BENCH_DIR (default
# /tmp/tessel-bench), which needs torch (./setup.sh --models). Target:
# propagation under 1 s on the 2-core development machine.
set -euo pipefail
cd "$(dirname "$0")/.."

layers=96 width=256 runs=5
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
plan="$(gpt2_bench_dir "$layers" "$width")/inputs.textproto"
cat > "$plan" <<'PLAN'
mesh { axes { name: "x" size: 2 } axes { name: "y" size: 4 } }
tensors { name: "ids" spec: '["x", "y"]' }
PLAN

compile="$(opt_bazel_bin //tools:tessel-compile)/tools/tessel-compile"

/usr/bin/python3 - "$compile" "$model" "$plan" "$runs" <<'PY'
import re, statistics, subprocess, sys, time
import onnx

compile, model, plan, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
base = [compile, model, "--input-shape", "ids=8x128"]

def timed(fn):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)

def propagate():
    run = subprocess.run(base + ["--plan", plan, "--emit=plan", "-o", "/dev/null",
                                 "--mlir-timing"],
                         check=True, capture_output=True, text=True)
    match = re.search(r"^\s*([0-9.]+) \(\s*[0-9.]+%\)\s+PropagatePass$", run.stderr, re.M)
    if not match:
        sys.exit("no PropagatePass line in the timing report:\n" + run.stderr)
    return float(match.group(1))

def plan_text():
    return subprocess.run(base + ["--plan", plan, "--emit=plan"], check=True,
                          capture_output=True, text=True).stdout

def peer():
    graph = onnx.load(model, load_external_data=False)
    onnx.shape_inference.infer_shapes(graph)

propagate()  # warm the page cache
propagate_seconds = statistics.median(propagate() for _ in range(runs))
compile_seconds = timed(lambda: subprocess.run(
    base + ["--plan", plan, "--emit=plan", "-o", "/dev/null"], check=True))
import_seconds = timed(lambda: subprocess.run(
    base + ["--emit=mlir", "-o", "/dev/null"], check=True))
peer_seconds = timed(peer)

# What propagation decided, as a sanity check that it reached the whole graph.
specs = re.findall(r'spec: "(.*)" }', plan_text())
sharded = sum(1 for spec in specs if '\\"' in spec)
nodes = len(onnx.load(model, load_external_data=False).graph.node)

print("model: %s (%d ONNX nodes), mesh x=2,y=4, only 'ids' annotated" % (model, nodes))
print("tensors in the plan: %d, of which sharded: %d" % (len(specs), sharded))
print("--spmd-propagate: %.3f s (median of %d)" % (propagate_seconds, runs))
print("tessel-compile to a plan (import + propagate + write): %.3f s" % compile_seconds)
print("tessel-compile import only: %.3f s" % import_seconds)
print("peer, python onnx.load (graph only) + shape inference: %.3f s" % peer_seconds)
print("ratio propagate / peer: %.2f" % (propagate_seconds / peer_seconds))
print("target: propagation under 1 s: %s" % ("met" if propagate_seconds < 1 else "MISSED"))
PY
