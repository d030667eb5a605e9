#!/usr/bin/env bash
# The benchmark GPT-2-style model (batch 4, sequence 128, width 512, 4
# layers) partitioned over host devices, against the same model on one
# device, measured in the same run on the same cores: time per run for
# data parallel (batch over 2 and 4 devices), Megatron tensor parallel
# (over 2 and 4) and both (2x2), with the collectives each step runs, and
# --check that every plan gives the single-device numbers; and each plan
# as one process per device under mpirun (the MPI backend) beside the
# host's threads. On a 2-core machine, devices beyond 2 share cores: the
# figures show the overhead of partitioning and of the collectives more
# than a speedup.
#
#   bench/gpt2_partitioned.sh [--iterations 10]
set -euo pipefail
cd "$(dirname "$0")/.."

iterations=10
while (($#)); do
  case "$1" in
    --iterations) iterations="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
layers=4 width=512 vocab=4096 shape=4x128
source bench/lib.sh
model="$(gpt2_bench_model "$layers" "$width" "$vocab")"
dir="$(dirname "$model")"
gpt2_bench_ids "$dir" "$vocab" "$shape"
bin="$(opt_bazel_bin //tools:tessel-compile //tools:tessel-run)/tools"
out="$dir/partitioned"
mkdir -p "$out"

megatron() { # mesh-axes tensor-axis: a Megatron plan for every layer
  local mesh="$1" axis="$2" batch="$3"
  echo "mesh { $mesh }"
  [[ -n "$batch" ]] && echo "tensors { name: \"ids\" spec: '[\"$batch\", null]' }"
  megatron_weights "$layers" "$axis"
}
batch() { # devices
  echo "mesh { axes { name: \"x\" size: $1 } }"
  echo "tensors { name: \"ids\" spec: '[\"x\", null]' }"
}
batch 2 > "$out/batch2.textproto"
batch 4 > "$out/batch4.textproto"
megatron 'axes { name: "y" size: 2 }' y "" > "$out/megatron2.textproto"
megatron 'axes { name: "y" size: 4 }' y "" > "$out/megatron4.textproto"
megatron 'axes { name: "x" size: 2 } axes { name: "y" size: 2 }' y x > "$out/both2x2.textproto"

time_of() { # executable -> ms per run
  "$bin/tessel-run" "$1" --inputs "ids=$dir/ids.npy" --iterations "$iterations" \
    | sed -n 's/^time per run: \([0-9.]*\) ms.*/\1/p'
}
# The same executable as one process per device under mpirun (the MPI
# backend), each rank with its share of the cores as the host's threads.
time_mpi() { # executable devices -> ms per run
  local cores
  cores=$(( $(nproc) / $2 )); (( cores < 1 )) && cores=1
  mpirun --oversubscribe --allow-run-as-root -np "$2" "$bin/tessel-run" "$1" \
    --backend mpi --threads "$cores" --inputs "ids=$dir/ids.npy" \
    --iterations "$iterations" 2>/dev/null \
    | sed -n 's/^time per run: \([0-9.]*\) ms.*/\1/p'
}
"$bin/tessel-compile" "$model" --input-shape "ids=$shape" -o "$out/single.tessel"
single=$(time_of "$out/single.tessel")
printf '%-12s %8s %10s %8s %10s %8s  %s\n' plan devices "ms/run" "vs 1" \
  "mpi ms/run" "mpi/host" "collectives per step; --check"
printf '%-12s %8d %10.1f %8.2f\n' single 1 "$single" 1
for plan in batch2 batch4 megatron2 megatron4 both2x2; do
  counts=$("$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
    --plan "$out/$plan.textproto" -o "$out/$plan.tessel" 2>&1 \
    | awk 'NR > 1 && $1 != "none" { printf "%s %s x %s B; ", $1, $2, $3 }')
  devices=$("$bin/tessel-compile" "$model" --input-shape "ids=$shape" \
    --plan "$out/$plan.textproto" -o "$out/$plan.tessel" 2>&1 | sed -n 's/^\([0-9]*\) devices.*/\1/p')
  ms=$(time_of "$out/$plan.tessel")
  # Summing partial products in another order moves logits by ~1e-4 (as
  # onnxruntime's differ from Tessel's single-device ones): atol 5e-4.
  check=$( ("$bin/tessel-run" "$out/$plan.tessel" --inputs "ids=$dir/ids.npy" \
    --check --atol 5e-4 || true) \
    | sed -n 's/.*vs the single-device program: largest error \([^ ]*\).*, \([0-9]*\) elements outside.*/max err \1, \2 outside/p')
  mpi=$(time_mpi "$out/$plan.tessel" "$devices")
  printf '%-12s %8s %10.1f %8.2f %10.1f %8.2f  %s%s\n' "$plan" "$devices" "$ms" \
    "$(echo "$ms / $single" | bc -l)" "$mpi" "$(echo "$mpi / $ms" | bc -l)" \
    "$counts" "$check"
done
