#!/usr/bin/env bash
# The largest GPT-2-style model (layers at width 256, vocabulary 1024,
# batch 8 x sequence 32, AdamW) whose training step fits a per-device
# memory budget on 8 host devices (one MPI process each), data parallel and
# with ZeRO-3: layers double until a step's measured memory per device
# (tessel-run --steps: the largest rank's peak resident growth) exceeds
# --budget. Beside it, the bound for AdamW's 16 bytes per parameter
# (parameter, gradient, two moments, f32): budget / 16 parameters data
# parallel, budget x devices / 16 with everything split.
#
#   bench/train_largest.sh [--budget-mib 96] [--devices 8] [--max-layers 64]
set -euo pipefail
cd "$(dirname "$0")/.."

budget=96 devices=8 max_layers=64
while (($#)); do
  case "$1" in
    --budget-mib) budget="$2"; shift 2 ;;
    --devices) devices="$2"; shift 2 ;;
    --max-layers) max_layers="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
width=256 vocab=1024 shape=8x32
source bench/lib.sh
bin="$(opt_bazel_bin //tools:tessel-compile //tools:tessel-run)/tools"
out="$bench_root/train_largest"
mkdir -p "$out"
train_batches "$out" "$vocab" "$shape"

# measure LAYERS STAGE: "parameters MiB-per-device" of one trained step.
measure() {
  local layers="$1" stage="$2" model plan
  model="$(gpt2_bench_model "$layers" "$width" "$vocab")"
  plan="$out/plan$stage.textproto"
  data_parallel_plan "$devices" "$stage" > "$plan"
  "$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
    "${gpt2_train_flags[@]}" --plan "$plan" \
    -o "$out/l$layers.s$stage.tessel" >/dev/null 2>&1
  local parameters
  parameters=$(/usr/bin/python3 -c "
import onnx, numpy as np, sys
m = onnx.load(sys.argv[1], load_external_data=False)
print(sum(int(np.prod(i.dims)) for i in m.graph.initializer if 'mask' not in i.name))" "$model")
  local mib
  mib=$(mpirun --oversubscribe --allow-run-as-root -np "$devices" \
    "$bin/tessel-run" "$out/l$layers.s$stage.tessel" --backend mpi --threads 1 \
    --steps 2 --log-every 0 --inputs "ids=$out/ids.npy,labels=$out/labels.npy" \
    2>&1 | sed -n 's/^memory per device: \([0-9.]*\) MiB measured.*/\1/p')
  echo "$parameters $mib"
}

printf '%-12s %8s %14s %12s %16s %12s\n' plan layers parameters "MiB/device" \
  "bound params" "of bound"
for stage in 0 3; do
  name="data"; ((stage)) && name="zero$stage"
  bound=$(( budget * 1048576 / 16 ))
  ((stage == 3)) && bound=$(( bound * devices ))
  best="" layers=1
  while ((layers <= max_layers)); do
    read -r parameters mib < <(measure "$layers" "$stage")
    printf '%-12s %8d %14d %12.1f\n' "$name" "$layers" "$parameters" "$mib" >&2
    if [[ -z "$mib" ]] || (( $(echo "$mib > $budget" | bc -l) )); then break; fi
    best="$layers $parameters $mib"
    layers=$((layers * 2))
  done
  if [[ -n "$best" ]]; then
    read -r l p m <<<"$best"
    printf '%-12s %8d %14d %12.1f %16d %12.2f\n' "$name" "$l" "$p" "$m" \
      "$bound" "$(echo "$p / $bound" | bc -l)"
  else
    printf '%-12s %8s\n' "$name" "none fits"
  fi
done
