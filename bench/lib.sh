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

# megatron_weights LAYERS AXIS: Megatron-LM's weight splits of the GPT-2
# benchmark models over AXIS, as plan entries: per block, q/k/v and fc by
# output feature (column parallel), proj and out by input feature (row
# parallel).
megatron_weights() {
  local l
  for ((l = 0; l < $1; ++l)); do
    echo "tensors { name: \"blocks.$l.attn.qkv.weight\" spec: '[\"$2\", null]' }"
    echo "tensors { name: \"blocks.$l.attn.proj.weight\" spec: '[null, \"$2\"]' }"
    echo "tensors { name: \"blocks.$l.fc.weight\" spec: '[\"$2\", null]' }"
    echo "tensors { name: \"blocks.$l.out.weight\" spec: '[null, \"$2\"]' }"
  done
}

# stored_weights LAYERS SPEC: every block weight of those models (the ones
# megatron_weights splits) stored as SPEC: '[null, null]' for data
# parallel (replicated), '["x", null]' for ZeRO-3-style storage (split over
# the data axis, gathered where used).
stored_weights() {
  local l w
  for ((l = 0; l < $1; ++l)); do
    for w in attn.qkv attn.proj fc out; do
      echo "tensors { name: \"blocks.$l.$w.weight\" spec: '$2' }"
    done
  done
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

# The training benchmarks' step of the GPT-2 bench model: next-token cross
# entropy, AdamW; torch.onnx.export keeps one attention mask for all layers
# (identical initializers are merged), a buffer, frozen.
gpt2_train_flags=(--train --loss "cross_entropy:output,labels,dim=-1"
                  --optimizer "adamw:lr=1e-4" --frozen blocks.0.attn.mask)

# train_bench_setup NAME: what the training benchmarks share, the GPT-2
# bench model (4 layers, width 512, vocabulary 4096), 8 sequences of 32
# tokens as $out/ids.npy and $out/labels.npy ($out: NAME in the model's
# folder) and the optimised tools in $bin. Sets layers, width, vocab,
# batch, sequence, model, out and bin.
train_bench_setup() {
  layers=4 width=512 vocab=4096 batch=8 sequence=32
  model="$(gpt2_bench_model "$layers" "$width" "$vocab")"
  out="$(dirname "$model")/$1"
  mkdir -p "$out"
  train_batches "$out" "$vocab" "${batch}x$sequence"
  bin="$(opt_bazel_bin //tools:tessel-compile //tools:tessel-run)/tools"
}

# train_batches DIR VOCAB SHAPE: the same random token ids and labels for
# every training benchmark, as DIR/ids.npy and DIR/labels.npy.
train_batches() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import sys, numpy as np
out, vocab, shape = sys.argv[1], int(sys.argv[2]), [int(d) for d in sys.argv[3].split("x")]
rng = np.random.default_rng(0)
np.save(out + "/ids.npy", rng.integers(0, vocab, size=shape).astype(np.int64))
np.save(out + "/labels.npy", rng.integers(0, vocab, size=shape).astype(np.int64))
PY
}

# data_parallel_plan DEVICES [ZERO_STAGE]: a plan splitting the batch of
# `ids` over axis x of DEVICES devices, with that ZeRO stage (0 or none:
# plain data parallel).
data_parallel_plan() {
  echo "mesh { axes { name: \"x\" size: $1 } }"
  echo "tensors { name: \"ids\" spec: '[\"x\", null]' }"
  if (("${2:-0}")); then echo "zero { stage: $2 axis: \"x\" }"; fi
}

# modeled_peak_mib TESSEL-COMPILE-COMMAND...: the modeled peak memory per
# device of the plan the command compiles (its --plan, priced as --auto
# prices it), in MiB plus 0.1 (the figure is printed rounded to 0.1): a
# --memory-budget that plan fits.
modeled_peak_mib() {
  "$@" --auto --auto-seconds 1 --emit=plan 2>&1 >/dev/null \
    | sed -n 's/^ *peak memory per device: \([0-9.]*\) MiB.*/\1/p' \
    | awk '{ printf "%.1f", $1 + 0.1 }'
}

# ring_bytes < --explain-collectives output: bytes sent per device, each
# collective priced as a ring: all-reduce 2(t-1)/t * S, all-gather,
# reduce-scatter and all-to-all (t-1)/t * S, collective permute and halo
# exchange S, over its group size t, S its bytes per device.
ring_bytes() {
  awk '
    function bytes(v, u) { return v * (u == "KiB" ? 1024 : u == "MiB" ? 1048576 : 1) }
    /^ *[0-9]+\. [a-z_]+.*groups? of [0-9]+, [0-9.]+ [KM]?i?B per device/ {
      kind = $2; sub(/,$/, "", kind)
      for (i = 1; i <= NF; ++i) {
        if ($i == "of") t = $(i + 1) + 0
        if ($(i + 2) == "per") s = bytes($i, $(i + 1))
      }
      f = kind == "all_reduce" ? 2 * (t - 1) / t \
        : kind == "collective_permute" || kind == "halo_exchange" ? 1 \
        : (t - 1) / t
      total += f * s
    }
    END { printf "%.0f", total }'
}

# counts < tessel-compile output: "kind count; ..."
counts() {
  awk '/collectives per step/ { on = 1; next }
       on && NF == 3 && $2 ~ /^[0-9]+$/ { printf "%s %s; ", $1, $2 }
       on && NF != 3 { on = 0 }'
}
