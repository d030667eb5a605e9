#!/usr/bin/env bash
# Bytes each device sends per inference step against the Megatron bound.
#
# A Megatron-LM layer over t devices all-reduces its activations twice in
# the forward pass (after attention, after the MLP); a ring all-reduce of
# S bytes sends 2(t-1)/t * S per device, so a forward step of L layers can
# do no better than L * 4(t-1)/t * tokens * hidden * bytes per element
# (tokens per data-parallel group; the issue's 8(t-1)/t counts the
# backward pass too). Tessel's collectives are priced the same way (ring
# all-reduce 2(t-1)/t * S, all-gather, reduce-scatter and all-to-all
# (t-1)/t * S, collective permute S, over each collective's group size t,
# S the bytes per device --explain-collectives prints) and summed.
#
# A training step (next-token cross entropy, AdamW) adds the backward
# pass's two all-reduces per layer: its bound is L * 8(t-1)/t * tokens *
# hidden * 4, the issue's figure; rows "megatron-train", Megatron over y
# only (data parallelism's gradient all-reduces are not Megatron's).
#
# Plans: the hand Megatron plan over y (batch whole) on 2 and 4 devices,
# and data x Megatron on 2x2; and --auto on the same mesh, the batch
# fixed whole, under the memory the hand plan needs (the budget that makes
# it shard the weights), to see whether it finds the bound itself. Models:
# the GPT-2 test model (2 layers, width 64, 2x16 tokens) and the benchmark
# model (4 layers, width 512, 4x128 tokens).
#
#   bench/megatron_bytes.sh [--auto-seconds 10]
set -euo pipefail
cd "$(dirname "$0")/.."

auto_seconds=10
while (($#)); do
  case "$1" in
    --auto-seconds) auto_seconds="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
bin="$(opt_bazel_bin //tools:tessel-compile)/tools"
out="$bench_root/megatron_bytes"
mkdir -p "$out"

plan() { # layers mesh-axes tensor-axis batch-axis|"" weights|none
  local layers="$1" mesh="$2" axis="$3" batch="$4" weights="$5"
  echo "mesh { $mesh }"
  if [[ -n "$batch" ]]; then
    echo "tensors { name: \"ids\" spec: '[\"$batch\", null]' }"
  else
    echo "tensors { name: \"ids\" spec: '[null, null]' }"
  fi
  [[ "$weights" == none ]] && return
  megatron_weights "$layers" "$axis"
}

printf '%-10s %-8s %-15s %12s %12s %6s  %s\n' model mesh plan \
  "B/device" "bound" ratio "collectives per step"
run() { # name model shape layers hidden tokens mesh-axes t dp
  local name="$1" model="$2" shape="$3" layers="$4" hidden="$5" tokens="$6"
  local axes="$7" t="$8" dp="$9" mesh
  mesh=$(echo "$axes" | sed 's/axes { name: "\([a-z]\)" size: \([0-9]\) }/\1=\2,/g; s/ //g; s/,$//')
  local batch=""
  ((dp > 1)) && batch=x
  local bound=$((layers * 4 * (t - 1) * tokens / dp * hidden * 4 / t))
  plan "$layers" "$axes" y "$batch" weights > "$out/$name-$mesh-megatron.textproto"
  local text bytes memory
  text=$("$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
    --plan "$out/$name-$mesh-megatron.textproto" --explain-collectives \
    -o "$out/$name-$mesh-megatron.tessel" 2>&1)
  bytes=$(ring_bytes <<<"$text")
  printf '%-10s %-8s %-15s %12d %12d %6.2f  %s\n' "$name" "$mesh" megatron \
    "$bytes" "$bound" "$(echo "$bytes / $bound" | bc -l)" "$(counts <<<"$text")"
  # The hand plan's modeled memory, as --auto prices it, is the budget.
  memory=$("$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
    --plan "$out/$name-$mesh-megatron.textproto" --auto --auto-seconds 1 \
    --emit=plan 2>&1 >/dev/null \
    | sed -n 's/^ *peak memory per device: \([0-9.]*\) MiB.*/\1/p')
  if ((dp == 1)); then
    text=$("$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
      "${gpt2_train_flags[@]}" --plan "$out/$name-$mesh-megatron.textproto" \
      --explain-collectives -o "$out/$name-$mesh-train.tessel" 2>&1)
    bytes=$(ring_bytes <<<"$text")
    printf '%-10s %-8s %-15s %12d %12d %6.2f  %s\n' "$name" "$mesh" \
      megatron-train "$bytes" "$((2 * bound))" \
      "$(echo "$bytes / (2 * $bound)" | bc -l)" "$(counts <<<"$text")"
  fi
  plan "$layers" "$axes" y "$batch" none > "$out/$name-$mesh-auto.textproto"
  text=$("$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
    --plan "$out/$name-$mesh-auto.textproto" --auto \
    --auto-seconds "$auto_seconds" --memory-budget "${memory}MiB" \
    --explain-collectives -o "$out/$name-$mesh-auto.tessel" 2>&1)
  bytes=$(ring_bytes <<<"$text")
  printf '%-10s %-8s %-15s %12d %12d %6.2f  %s\n' "$name" "$mesh" \
    "auto" "$bytes" "$bound" "$(echo "$bytes / $bound" | bc -l)" \
    "$(counts <<<"$text")(budget ${memory} MiB)"
}

test_model=tests/models/gpt2/model.onnx
[[ -f "$test_model" ]] || ./setup.sh --models >&2
layers=4 width=512 vocab=4096
bench_model="$(gpt2_bench_model "$layers" "$width" "$vocab")"
for spec in 'axes { name: "y" size: 2 }|2|1' 'axes { name: "y" size: 4 }|4|1' \
            'axes { name: "x" size: 2 } axes { name: "y" size: 2 }|2|2'; do
  IFS='|' read -r axes t dp <<<"$spec"
  run test "$test_model" 2x16 2 64 32 "$axes" "$t" "$dp"
  run bench "$bench_model" 4x128 "$layers" "$width" 512 "$axes" "$t" "$dp"
done
