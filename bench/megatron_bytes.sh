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
# it shard the weights), to see whether it finds the bound itself: with
# this machine's profile (row "auto") and with the H100 profile ("auto-h100",
# NVLink: the regime the bound is about, collectives priced by their ring
# bytes), each under the hand plan's modeled memory with that profile. Models:
# the GPT-2 test model (2 layers, width 64, 2x16 tokens) and the benchmark
# model (4 layers, width 512, 4x128 tokens). Column "host ms": each
# inference plan's time per run on this machine's host devices (tessel-run,
# 10 runs), what the host profile's plan is chosen for.
#
# 30 s of search by default: under a binding budget the search runs again
# when the reshards' own memory takes its plan over (a quarter of the time
# each), and at 10 s that second search ended short of the optimum on 4
# devices.
#
#   bench/megatron_bytes.sh [--auto-seconds 30]
set -euo pipefail
cd "$(dirname "$0")/.."

auto_seconds=30
while (($#)); do
  case "$1" in
    --auto-seconds) auto_seconds="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
bin="$(opt_bazel_bin //tools:tessel-compile //tools:tessel-run)/tools"
out="$bench_root/megatron_bytes"
profiles=compiler/cost/profiles
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

# timed EXECUTABLE IDS: its time per run on this machine's host devices
# (tessel-run, 10 runs after a first), in ms.
timed() {
  "$bin/tessel-run" "$1" --inputs "ids=$2" --iterations 10 \
    | sed -n 's/^time per run: \([0-9.]*\) ms.*/\1/p'
}

# row MODEL MESH PLAN BYTES BOUND MS|- COMPILE-OUTPUT [NOTE]
row() {
  local ms="$6"
  [[ "$ms" == - ]] || ms=$(printf '%.3f' "$ms")
  printf '%-10s %-8s %-15s %12d %12d %6.2f %8s  %s\n' "$1" "$2" "$3" "$4" \
    "$5" "$(echo "$4 / $5" | bc -l)" "$ms" "$(counts <<<"$7")${8:-}"
}

printf '%-10s %-8s %-15s %12s %12s %6s %8s  %s\n' model mesh plan \
  "B/device" "bound" ratio "host ms" "collectives per step"
run() { # name model shape layers hidden tokens mesh-axes t dp ids
  local name="$1" model="$2" shape="$3" layers="$4" hidden="$5" tokens="$6"
  local axes="$7" t="$8" dp="$9" ids="${10}" mesh
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
  row "$name" "$mesh" megatron "$bytes" "$bound" \
    "$(timed "$out/$name-$mesh-megatron.tessel" "$ids")" "$text"
  if ((dp == 1)); then
    text=$("$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
      "${gpt2_train_flags[@]}" --plan "$out/$name-$mesh-megatron.textproto" \
      --explain-collectives -o "$out/$name-$mesh-train.tessel" 2>&1)
    bytes=$(ring_bytes <<<"$text")
    row "$name" "$mesh" megatron-train "$bytes" "$((2 * bound))" - "$text"
  fi
  plan "$layers" "$axes" y "$batch" none > "$out/$name-$mesh-auto.textproto"
  local profile label
  for profile in host h100_sxm; do
    label=auto
    [[ "$profile" == host ]] || label="auto-${profile%%_*}"
    # The hand plan's modeled memory under this profile is the budget.
    memory=$(modeled_peak_mib "$bin/tessel-compile" "$model" \
      --input-shape "ids=$shape" --device-profile "$profiles/$profile.textproto" \
      --plan "$out/$name-$mesh-megatron.textproto")
    text=$("$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
      --plan "$out/$name-$mesh-auto.textproto" --auto \
      --auto-seconds "$auto_seconds" --memory-budget "${memory}MiB" \
      --device-profile "$profiles/$profile.textproto" \
      --explain-collectives -o "$out/$name-$mesh-$label.tessel" 2>&1) \
      || { echo "$text" >&2; return 1; }
    bytes=$(ring_bytes <<<"$text")
    row "$name" "$mesh" "$label" "$bytes" "$bound" \
      "$(timed "$out/$name-$mesh-$label.tessel" "$ids")" "$text" \
      "(budget ${memory} MiB)"
  done
}

test_model=tests/models/gpt2/model.onnx
[[ -f "$test_model" ]] || ./setup.sh --models >&2
layers=4 width=512 vocab=4096
bench_model="$(gpt2_bench_model "$layers" "$width" "$vocab")"
gpt2_bench_ids "$out" "$vocab" 4x128
for spec in 'axes { name: "y" size: 2 }|2|1' 'axes { name: "y" size: 4 }|4|1' \
            'axes { name: "x" size: 2 } axes { name: "y" size: 2 }|2|2'; do
  IFS='|' read -r axes t dp <<<"$spec"
  run test "$test_model" 2x16 2 64 32 "$axes" "$t" "$dp" \
    tests/models/gpt2/ids.npy
  run bench "$bench_model" 4x128 "$layers" "$width" 512 "$axes" "$t" "$dp" \
    "$out/ids.npy"
done
