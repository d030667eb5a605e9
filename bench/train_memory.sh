#!/usr/bin/env bash
# Peak memory per device of a GPT-2-style training step (AdamW, next-token
# cross entropy; 4 layers, width 512, vocabulary 4096, batch 8 x sequence
# 32) for data parallel and ZeRO stages 1, 2 and 3 over the batch axis, on
# 4 and 8 devices, one MPI process per device: measured (the largest peak
# resident growth of a rank over its steps, tessel-run --steps under
# mpirun) beside the cost model's figure for the same plan (tessel-compile
# --price, "peak memory per device") and beside what the executable
# allocates (parameters, state, inputs, arena, load-time results). The
# model counts the runtime's own memory per rank and what each collective
# kind takes while it runs (collective_workspace), measured first in the
# same run on a small model of the same family (1 layer, width 64,
# vocabulary 256) with the same rank count (tessel-run
# --runtime-memory-profile), not on the model measured.
#
#   bench/train_memory.sh [--devices "4 8"] [--steps 3]
set -euo pipefail
cd "$(dirname "$0")/.."

device_counts="4 8" steps=3
while (($#)); do
  case "$1" in
    --devices) device_counts="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
train_bench_setup train_memory
shape="${batch}x$sequence"
small="$(gpt2_bench_model 1 64 256)"
smallOut="$(dirname "$small")/train_memory"
mkdir -p "$smallOut"
train_batches "$smallOut" 256 "${batch}x$sequence"
printf '%-8s %7s %12s %12s %12s %14s %9s %8s\n' plan devices "measured MiB" \
  "modeled MiB" "runtime MiB" "executable MiB" "modeled/" "ms/step"
for devices in $device_counts; do
  # The runtime's own memory on this many ranks, from the small model.
  data_parallel_plan "$devices" 0 > "$smallOut/data$devices.textproto"
  "$bin/tessel-compile" "$small" --input-shape "ids=$shape" \
    "${gpt2_train_flags[@]}" --plan "$smallOut/data$devices.textproto" \
    -o "$smallOut/data$devices.tessel" 2>/dev/null
  profile="$out/runtime$devices.textproto"
  runtime=$(mpirun --oversubscribe --allow-run-as-root -np "$devices" \
    "$bin/tessel-run" "$smallOut/data$devices.tessel" --backend mpi \
    --steps "$steps" --log-every 0 --runtime-memory-profile "$profile" \
    --inputs "ids=$smallOut/ids.npy,labels=$smallOut/labels.npy" 2>&1 |
    sed -n 's/^runtime memory per device: \([0-9.]*\) MiB.*/\1/p')
  for stage in 0 1 2 3; do
    name="zero$stage"; ((stage)) || name="data"
    plan="$out/$name$devices.textproto"
    data_parallel_plan "$devices" "$stage" > "$plan"
    # The plan as propagation completes it, priced by the cost model
    # (--price), compiled into the executable measured.
    report=$("$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
      "${gpt2_train_flags[@]}" --plan "$plan" --price \
      --device-profile "$profile" \
      -o "$out/$name$devices.tessel" 2>&1)
    modeled=$(echo "$report" | sed -n 's/.*peak memory per device: \([0-9.]*\) MiB.*/\1/p')
    run=$(mpirun --oversubscribe --allow-run-as-root -np "$devices" \
      "$bin/tessel-run" "$out/$name$devices.tessel" --backend mpi --steps "$steps" \
      --log-every 0 --inputs "ids=$out/ids.npy,labels=$out/labels.npy" 2>&1)
    measured=$(echo "$run" | sed -n 's/^memory per device: \([0-9.]*\) MiB measured.*/\1/p')
    executable=$(echo "$run" | sed -n 's/.*), \([0-9.]*\) MiB estimated from the executable.*/\1/p')
    ms=$(echo "$run" | sed -n 's/.* ms per step, \([0-9.]*\) ms after the first.*/\1/p')
    printf '%-8s %7d %12.1f %12.1f %12.1f %14.1f %9.2f %8.0f\n' "$name" \
      "$devices" "$measured" "$modeled" "$runtime" "$executable" \
      "$(echo "$modeled / $measured" | bc -l)" "$ms"
  done
done
