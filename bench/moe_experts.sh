#!/usr/bin/env bash
# Expert parallelism on a mixture-of-experts model: bytes against the
# bound, and time against data parallelism.
#
# The model: tests/models/generate.py's SwitchExperts at benchmark size
# (a top-1 then a top-2 GShard layer, 8 experts, width 256, expert hidden
# 1024, 8 groups of 128 tokens, capacity factor 1), written once to
# $bench_root/experts_bench.
#
# Bytes: an expert-parallel layer over t devices can do no better than
# two all-to-alls of the dispatched tokens (dispatch, combine), each
# sending (t-1)/t of a device's share of the [experts, groups, capacity,
# width] buffer: per layer 2 (t-1)/t * E*G*C*D*4 / t bytes, C = ceil(k *
# tokens * factor / E). Tessel's collectives are priced as rings and summed
# (lib.sh ring_bytes); "ratio" is that over the bound of both layers.
#
# Time: tessel-run on host threads (the README's optimised build), the
# median of --iterations runs, and a training step (Adam, cross entropy
# over the output's features, one batch repeated) in ms per step after the
# first; for data parallelism (groups split, experts replicated), expert
# parallelism (groups and experts over x), experts over x with each
# expert's hidden features over y (2x2), and --auto under the memory the
# expert-parallel plan needs. "mpi step ms": the same training step as one
# process per device under mpirun (--backend mpi), the cores shared alike.
#
#   bench/moe_experts.sh [--iterations 5] [--steps 4] [--auto-seconds 5]
set -euo pipefail
cd "$(dirname "$0")/.."

iterations=5 steps=4 auto_seconds=5
while (($#)); do
  case "$1" in
    --iterations) iterations="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --auto-seconds) auto_seconds="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
bin="$(opt_bazel_bin //tools:tessel-compile //tools:tessel-run)/tools"
groups=8 tokens=128 width=256 hidden=1024 experts=8
dir="$bench_root/experts_bench"
model="$dir/experts_bench.onnx"
if [[ ! -f "$model" ]]; then
  ./setup.sh --models >&2
  /usr/bin/python3 tests/models/generate.py --experts-bench "$dir" \
    --groups "$groups" --tokens "$tokens" --width "$width" \
    --hidden "$hidden" --experts "$experts" >&2
fi
/usr/bin/python3 - "$dir" "$groups" "$tokens" "$width" <<'PY'
import sys, numpy as np
out, g, s, d = sys.argv[1], *map(int, sys.argv[2:])
np.save(out + "/labels.npy", np.random.default_rng(0).integers(0, d, size=(g, s)).astype(np.int64))
PY
shape="x=${groups}x${tokens}x${width}"
train_flags=(--train --loss "cross_entropy:output,labels,dim=-1" --optimizer "adam:lr=1e-3")

plan() { # mesh-axes groups-axis experts-axis hidden-axis
  echo "mesh { $1 }"
  echo "tensors { name: \"x\" spec: '[\"$2\", null, null]' }"
  local e="${3:+\"$3\"}" h="${4:+\"$4\"}" l
  for l in top1 top2; do
    [[ -n "$3" ]] && echo "tensors { name: \"$l.w1\" spec: '[$e, null, ${h:-null}]' }"
    [[ -n "$3" ]] && echo "tensors { name: \"$l.w2\" spec: '[$e, ${h:-null}, null]' }"
  done
  return 0
}

bound() { # t: both layers' dispatch and combine all-to-alls, bytes per device
  local t="$1" k total=0 capacity
  for k in 1 2; do
    capacity=$(((k * tokens + experts - 1) / experts))
    total=$((total + 2 * (t - 1) * experts * groups * capacity * width * 4 / (t * t)))
  done
  echo "$total"
}

printf '%-6s %-10s %10s %10s %6s %9s %9s %12s  %s\n' mesh plan "B/device" \
  bound ratio "infer ms" "step ms" "mpi step ms" \
  "collectives per step (inference)"
# measure MESH NAME PLAN-FILE T [INFERENCE-FLAGS [TRAINING-FLAGS]]: the
# extra flags of each compilation, split at spaces.
measure() {
  local mesh="$1" name="$2" planfile="$3" t="$4" infer_flags=(${5:-}) step_flags=(${6:-})
  local text bytes b infer step mpistep devices
  devices=${mesh#x=}
  [[ "$mesh" == 2x2 ]] && devices=4
  text=$("$bin/tessel-compile" "$model" --input-shape "$shape" \
    --plan "$planfile" "${infer_flags[@]}" --explain-collectives \
    -o "$dir/$mesh-$name.tessel" 2>&1)
  bytes=$(ring_bytes <<<"$text")
  b=$(bound "$t")
  infer=$("$bin/tessel-run" "$dir/$mesh-$name.tessel" --inputs "x=$dir/x.npy" \
    --iterations "$iterations" | sed -n 's/^time per run: \([0-9.]*\) ms.*/\1/p')
  "$bin/tessel-compile" "$model" --input-shape "$shape" --plan "$planfile" \
    "${step_flags[@]}" "${train_flags[@]}" -o "$dir/$mesh-$name-train.tessel" >/dev/null 2>"$dir/$mesh-$name-train.log" \
    || { cat "$dir/$mesh-$name-train.log" >&2; return 1; }
  step=$("$bin/tessel-run" "$dir/$mesh-$name-train.tessel" --steps "$steps" \
    --log-every 0 --inputs "x=$dir/x.npy,labels=$dir/labels.npy" \
    | sed -n 's/.* ms per step, \([0-9.]*\) ms after the first.*/\1/p')
  mpistep=$(mpirun --oversubscribe --allow-run-as-root -np "$devices" \
    "$bin/tessel-run" "$dir/$mesh-$name-train.tessel" --backend mpi \
    --steps "$steps" --log-every 0 \
    --inputs "x=$dir/x.npy,labels=$dir/labels.npy" \
    | sed -n 's/.* ms per step, \([0-9.]*\) ms after the first.*/\1/p')
  printf '%-6s %-10s %10d %10d %6.2f %9.1f %9.1f %12.1f  %s\n' "$mesh" "$name" \
    "$bytes" "$b" "$(echo "$bytes / $b" | bc -l)" "$infer" "$step" "$mpistep" \
    "$(counts <<<"$text")"
}

# modeled_memory PLAN-FILE [FLAGS...]: the plan's modeled peak per device
# in MiB, as a budget it fits.
modeled_memory() {
  local planfile="$1"; shift
  modeled_peak_mib "$bin/tessel-compile" "$model" --input-shape "$shape" \
    --plan "$planfile" "$@"
}

for n in 2 4; do
  axes="axes { name: \"x\" size: $n }"
  plan "$axes" x "" "" > "$dir/x=$n-data.textproto"
  plan "$axes" x x "" > "$dir/x=$n-experts.textproto"
  measure "x=$n" data "$dir/x=$n-data.textproto" "$n"
  measure "x=$n" experts "$dir/x=$n-experts.textproto" "$n"
  # --auto under the expert-parallel plan's modeled memory (inference, and
  # the training step's).
  memory=$(modeled_memory "$dir/x=$n-experts.textproto")
  step_memory=$(modeled_memory "$dir/x=$n-experts.textproto" "${train_flags[@]}")
  echo "mesh { $axes }" > "$dir/x=$n-auto.textproto"
  measure "x=$n" auto "$dir/x=$n-auto.textproto" "$n" \
    "--auto --auto-seconds $auto_seconds --memory-budget ${memory}MiB" \
    "--auto --auto-seconds $auto_seconds --memory-budget ${step_memory}MiB"
done
axes='axes { name: "x" size: 2 } axes { name: "y" size: 2 }'
plan "$axes" x x y > "$dir/2x2-experts.textproto"
measure 2x2 experts+tp "$dir/2x2-experts.textproto" 2
