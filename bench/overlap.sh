#!/usr/bin/env bash
# Overlapped collectives (tessel-compile --overlap-collectives): the
# training step of the GPT-2-style bench model (4 layers, width 512,
# vocabulary 4096; batch 8 x sequence 32; AdamW) partitioned data parallel
# (the batch over x: gradient all-reduces, which overlap the backward pass
# of the layers below) and Megatron (weights over x: activation
# all-reduces, which the layer's next op reads at once, and the weight
# gradients' work), on 2 and 4 devices, on host threads and under mpirun
# (one rank per device), without and with overlap (2 in flight).
#
# Per configuration, the median over --rounds of tessel-run --steps's ms
# per step after the first, the two builds alternating; and from --profile
# (the same runs): the collectives' time without overlap ("coll ms", what
# the devices spent in them) and with overlap the time the devices still
# spent on them ("exposed ms": the waits, collective_done, and the
# collectives left in line, with no work to hide behind); hidden = 1 -
# exposed / coll.
# On the host the profile sums the device threads; under MPI it is rank
# 0's. This machine has two cores: device threads, their kernels' threads
# and the collective threads share them, so a collective run beside a
# kernel slows both; hidden time is what a machine with cores to spare
# gains outright.
#
#   bench/overlap.sh [--devices "2 4"] [--rounds 3] [--steps 6] [--backends "host mpi"]
set -euo pipefail
cd "$(dirname "$0")/.."

device_counts="2 4" rounds=3 steps=6 backends="host mpi"
while (($#)); do
  case "$1" in
    --devices) device_counts="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --backends) backends="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
train_bench_setup overlap

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# run BACKEND N EXECUTABLE: one tessel-run --steps --profile; prints "ms
# collective-ms exposed-ms".
run() {
  local launcher=()
  if [[ $1 == mpi ]]; then
    launcher=(mpirun --oversubscribe --allow-run-as-root -np "$2")
    set -- "$@" --backend mpi --threads 1
  fi
  "${launcher[@]}" "$bin/tessel-run" "$3" "${@:4}" --steps "$steps" \
    --log-every 0 --profile --timeout 600 \
    --inputs "ids=$out/ids.npy,labels=$out/labels.npy" 2>&1 | awk '
    /ms after the first/ { match($0, /[0-9.]+ ms after/); ms = substr($0, RSTART, RLENGTH - 9) }
    /^  (ALL_|REDUCE_|COLLECTIVE_|HALO_)[A-Z_]*: / { coll += $2 }
    /^  collective_done: / { waited = $2 }
    END { printf "%s %.3f %.3f\n", ms, coll, coll + waited }'
}

printf '%-5s %-9s %2s %10s %10s %8s %9s %11s %7s\n' backend plan n \
  "ms off" "ms on" "on/off" "coll ms" "exposed ms" hidden
for backend in $backends; do
  for n in $device_counts; do
    for plan in data megatron; do
      if [[ $plan == data ]]; then
        data_parallel_plan "$n" > "$out/$plan$n.textproto"
      else
        { echo "mesh { axes { name: \"x\" size: $n } }"
          megatron_weights "$layers" x; } > "$out/$plan$n.textproto"
      fi
      for overlap in 0 2; do
        "$bin/tessel-compile" "$model" --input-shape "ids=${batch}x$sequence" \
          "${gpt2_train_flags[@]}" --plan "$out/$plan$n.textproto" \
          --overlap-collectives "$overlap" -o "$out/$plan${n}_$overlap.tessel" >/dev/null 2>&1
      done
      : > "$out/off" ; : > "$out/on"
      for ((r = 0; r < rounds; ++r)); do
        run "$backend" "$n" "$out/$plan${n}_0.tessel" >> "$out/off"
        run "$backend" "$n" "$out/$plan${n}_2.tessel" >> "$out/on"
      done
      off=$(cut -d' ' -f1 "$out/off" | median)
      on=$(cut -d' ' -f1 "$out/on" | median)
      coll=$(cut -d' ' -f2 "$out/off" | median)
      exposed=$(cut -d' ' -f3 "$out/on" | median)
      printf '%-5s %-9s %2d %10.1f %10.1f %8.2f %9.1f %11.1f %6.0f%%\n' \
        "$backend" "$plan" "$n" "$off" "$on" "$(echo "$on / $off" | bc -l)" \
        "$coll" "$exposed" "$(echo "100 * (1 - $exposed / $coll)" | bc -l)"
    done
  done
done
