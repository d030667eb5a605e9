#!/usr/bin/env bash
# Training step time of the GPT-2-style bench model (4 layers, width 512,
# vocabulary 4096; global batch 8 x sequence 32; AdamW, next-token cross
# entropy) data parallel over N processes: Tessel (tessel-run --steps under
# mpirun, --backend mpi, the batch split over the ranks) against PyTorch's
# DistributedDataParallel with the gloo backend on as many processes
# (bench/peers/torch_ddp.py), the same threads per process, measured in the
# same run. Prints ms per step after the first and Tessel's speed relative
# to torch's (> 1: Tessel faster). Then the same with ZeRO stage 1 (the
# optimizer state split over the ranks): Tessel's plan against torch's
# ZeroRedundancyOptimizer around AdamW under DDP.
#
#   bench/train_step.sh [--processes "2 4"] [--steps 5]
set -euo pipefail
cd "$(dirname "$0")/.."

process_counts="2 4" steps=5
while (($#)); do
  case "$1" in
    --processes) process_counts="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
train_bench_setup train_step
# Debian's torch calls the system BLAS (libblas.so.3), netlib's reference
# one unless an optimised one provides it: 3 GFLOPS against OpenBLAS's 35
# on this machine's core. The peer gets OpenBLAS, as a user would give it.
if ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
  echo "installing libopenblas0-pthread (the BLAS Debian's torch uses)" >&2
  apt-get install -y --no-install-recommends libopenblas0-pthread >/dev/null
fi
cores=$(nproc)
printf '%-7s %10s %9s %14s %14s %12s\n' plan processes threads "Tessel ms" \
  "torch ms" "Tessel/torch"
for stage in 0 1; do
  plan=data zero=()
  ((stage == 0)) || plan=zero1 zero=(--zero)
  for n in $process_counts; do
    threads=$((cores / n)); ((threads >= 1)) || threads=1
    data_parallel_plan "$n" "$stage" > "$out/$plan$n.textproto"
    "$bin/tessel-compile" "$model" --input-shape "ids=${batch}x$sequence" \
      "${gpt2_train_flags[@]}" --plan "$out/$plan$n.textproto" \
      -o "$out/$plan$n.tessel" >/dev/null 2>&1
    tessel=$(mpirun --oversubscribe --allow-run-as-root -np "$n" \
      "$bin/tessel-run" "$out/$plan$n.tessel" --backend mpi --threads "$threads" \
      --steps "$steps" --log-every 0 \
      --inputs "ids=$out/ids.npy,labels=$out/labels.npy" 2>&1 \
      | sed -n 's/.* ms per step, \([0-9.]*\) ms after the first.*/\1/p')
    # OpenBLAS's own threads too (torch.set_num_threads leaves them, Debian's
    # torch not knowing its BLAS): a process per core, as Tessel's ranks.
    torch=$(OPENBLAS_NUM_THREADS="$threads" /usr/bin/python3 bench/peers/torch_ddp.py --processes "$n" \
      --threads "$threads" --layers "$layers" --width "$width" --vocab "$vocab" \
      --batch "$batch" --sequence "$sequence" --steps "$steps" "${zero[@]}" 2>&1 \
      | sed -n 's/^torch ddp[a-z ]*: \([0-9.]*\) ms per step.*/\1/p')
    printf '%-7s %10d %9d %14.1f %14.1f %12.2f\n' "$plan" "$n" "$threads" \
      "$tessel" "$torch" "$(echo "$torch / $tessel" | bc -l)"
  done
done
