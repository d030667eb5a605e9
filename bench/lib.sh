# Shared by the benchmark scripts (source it from the repository root):
# the benchmark GPT-2-style model, its token ids, and optimised tools.

bench_root="${TESSEL_BENCH_DIR:-/tmp/tessel-bench}"
bench_repository="$(pwd)"

# onnxruntime_peer MODEL INPUT SHAPE ITERATIONS THREADS OUT [TYPE]: runs
# bench/peers/onnxruntime_run.js on npm's onnxruntime-node, installed under
# $bench_root/ort on first use; prints its time per run and peak memory.
onnxruntime_peer() {
  if [[ ! -d "$bench_root/ort/node_modules/onnxruntime-node" ]]; then
    mkdir -p "$bench_root/ort"
    (cd "$bench_root/ort" && npm init -y >/dev/null && \
     npm install --ignore-scripts onnxruntime-node >/dev/null 2>&1)
  fi
  (cd "$bench_root/ort" && NODE_PATH="$bench_root/ort/node_modules" node \
    "$bench_repository/bench/peers/onnxruntime_run.js" "$@")
}

# gpt2_bench_dir LAYERS WIDTH: where that model lives.
gpt2_bench_dir() {
  echo "$bench_root/gpt2_$1x$2"
}

# gpt2_bench_model LAYERS WIDTH VOCAB: generates the model (with torch,
# installed by ./setup.sh --models) on first use; prints its path.
gpt2_bench_model() {
  local dir
  dir="$(gpt2_bench_dir "$1" "$2")"
  if [[ ! -f "$dir/gpt2_bench.onnx" ]]; then
    ./setup.sh --models >&2
    /usr/bin/python3 tests/models/generate.py --gpt2-bench "$dir" \
      --layers "$1" --width "$2" --vocab "$3" >&2
  fi
  echo "$dir/gpt2_bench.onnx"
}

# gpt2_bench_ids DIR VOCAB SHAPE: the same random token ids for every side,
# as DIR/ids.npy (Tessel) and DIR/ids.bin (raw, for the peers).
gpt2_bench_ids() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import sys, numpy as np
directory, vocab, shape = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ids = np.random.default_rng(0).integers(0, vocab, size=[int(d) for d in shape.split("x")])
np.save(directory + "/ids.npy", ids.astype(np.int64))
ids.astype(np.int64).tofile(directory + "/ids.bin")
PY
}

# opt_bazel_bin TARGET...: builds the targets as the README does (optimised,
# the .bazelrc default); prints bazel-bin.
opt_bazel_bin() {
  bazel build "$@" >/dev/null 2>&1
  bazel info bazel-bin 2>/dev/null
}
