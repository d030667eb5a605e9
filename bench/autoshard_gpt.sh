#!/usr/bin/env bash
# Auto-sharding on GPT-style models: the modeled step of the plan --auto
# chooses against the Megatron-LM plan (the same model with the Megatron
# weight shardings as constraints, everything else chosen by the same
# search: tensor parallel over y inside a node, data parallel over x), and
# the time --auto takes, whole compile included.
#
#   bench/autoshard_gpt.sh [--layers 4] [--width 512] [--mesh x=2,y=4]
#                          [--profile compiler/cost/profiles/h100_sxm.textproto]
#                          [--seconds 10]
#
# The ratio auto / Megatron should be <= 1.00.
set -euo pipefail
cd "$(dirname "$0")/.."
layers=4 width=512 mesh="x=2,y=4" seconds=10
profile=compiler/cost/profiles/h100_sxm.textproto
batch=16 seq=128
while (($#)); do
  case "$1" in
    --layers) layers="$2"; shift 2 ;;
    --width) width="$2"; shift 2 ;;
    --mesh) mesh="$2"; shift 2 ;;
    --profile) profile="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
model="$(gpt2_bench_model "$layers" "$width" 1024)"
dir="$(gpt2_bench_dir "$layers" "$width")"
compile="$(opt_bazel_bin //tools:tessel-compile)/tools/tessel-compile"

# The Megatron plan: column-parallel q/k/v and fc, row-parallel proj and
# out, over the mesh's last axis; the batch over its first.
first="${mesh%%=*}"
last="$(echo "$mesh" | tr ',' '\n' | tail -1 | cut -d= -f1)"
{
  echo "mesh {"
  echo "$mesh" | tr ',' '\n' | while IFS== read -r name size; do
    echo "  axes { name: \"$name\" size: $size }"
  done
  echo "}"
  echo "tensors { name: \"ids\" spec: '[\"$first\", null]' }"
  megatron_weights "$layers" "$last"
} > "$dir/megatron.textproto"

run() { # label, extra flags...
  local label="$1"; shift
  local start end report
  start=$(date +%s.%N)
  report="$("$compile" "$model" --input-shape "ids=${batch}x${seq}" --auto \
    --auto-seconds "$seconds" --device-profile "$profile" --emit=plan \
    -o /dev/null "$@" 2>&1 | grep -E "modeled step|peak memory|auto-sharding for")"
  end=$(date +%s.%N)
  step="$(echo "$report" | sed -n 's/.*= \([0-9.]*\) ms/\1/p')"
  printf "%-10s %10s ms  (%s s)\n" "$label" "$step" "$(echo "$end - $start" | bc)"
  echo "$report" | sed 's/^/    /'
  eval "${label}_step=$step"
}
echo "GPT $layers layers x $width, batch $batch x $seq, mesh $mesh, $(basename "$profile")"
run auto --mesh "$mesh"
run megatron --plan "$dir/megatron.textproto"
echo "auto / megatron: $(echo "scale=3; $auto_step / $megatron_step" | bc)"
