#!/usr/bin/env bash
# Plan quality at Alpa's GPT sizes (1.3B, 6.7B, 39B parameters), forward
# pass at sequence 1024, on one node of 8 and on 8 nodes of 8 devices of a
# profile (default H100): the modeled step of --auto's plan against the
# best of three expert plans, each the same search with the expert's
# shardings as constraints: Megatron-LM (tensor parallel over the node's
# axis y, data parallel across nodes over x: on one node, tensor parallel
# alone), data parallel (the batch split over the data axis, y on one
# node and x across nodes, every block weight replicated) and ZeRO-3-style
# (data parallel with every block weight stored split over the data axis,
# gathered where used); and the time --auto takes. The graphs come from
# bench/gpt_graph.py (shapes only: weights are arguments). Target: every
# ratio <= 1.00.
#
#   bench/autoshard_gpt_sizes.sh [--profile ...] [--seconds 10] [--batch 8]
set -euo pipefail
cd "$(dirname "$0")/.."
profile=compiler/cost/profiles/h100_sxm.textproto seconds=10 batch=8
while (($#)); do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --seconds) seconds="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
compile="$(opt_bazel_bin //tools:tessel-compile)/tools/tessel-compile"
dir="${TESSEL_BENCH_DIR:-/tmp/tessel-bench}/gpt-sizes"
mkdir -p "$dir"

step() { # plan flags... -> modeled ms, or nothing where no plan fits
  "$compile" "$@" --auto --auto-seconds "$seconds" --device-profile "$profile" \
    --emit=plan -o /dev/null 2>&1 | sed -n 's/.*= \([0-9.]*\) ms$/\1/p' || true
}

# Chains (a deep MLP: dense layers and activations, weights hanging off)
# are trees, where the dynamic program is exact: the plan is the optimum.
chain="$dir/chain.mlir"
if [[ ! -f "$chain" ]]; then
  {
    echo -n 'func.func @main(%x: tensor<16x8192xf32> {graph.name = "x"}'
    for ((l = 0; l < 32; l++)); do
      echo -n ", %w$l: tensor<8192x8192xf32> {graph.name = \"w$l\"}"
    done
    echo ') -> (tensor<16x8192xf32> {graph.name = "y"}) {'
    prev="%x"
    for ((l = 0; l < 32; l++)); do
      echo "  %h$l = graph.dot_general $prev, %w$l, batching_dims = [] x [], contracting_dims = [1] x [0] : (tensor<16x8192xf32>, tensor<8192x8192xf32>) -> tensor<16x8192xf32>"
      echo "  %a$l = graph.tanh %h$l : tensor<16x8192xf32>"
      prev="%a$l"
    done
    echo "  return $prev : tensor<16x8192xf32>"
    echo "}"
  } > "$chain"
fi
for mesh in "x=8" "x=8,y=8"; do
  report="$("$compile" "$chain" --mesh "$mesh" --auto --auto-seconds "$seconds" \
    --device-profile "$profile" --emit=plan -o /dev/null 2>&1 | grep "solved in")"
  echo "chain 32 x 8192 on $mesh: ${report#*; }"
done
echo

printf "%-6s %-6s %10s %12s %10s %10s %8s %9s\n" model mesh "auto ms" "megatron ms" \
  "data ms" "zero-3 ms" "ratio" "search s"
for config in "1.3B 24 2048 32" "6.7B 32 4096 32" "39B 48 8192 64"; do
  read -r name layers hidden heads <<<"$config"
  graph="$dir/gpt-$name.mlir"
  [[ -f "$graph" ]] || /usr/bin/python3 bench/gpt_graph.py --layers "$layers" \
    --hidden "$hidden" --heads "$heads" --seq 1024 --batch "$batch" > "$graph"
  for mesh in "x=1,y=8" "x=8,y=8"; do
    x="${mesh#x=}"; x="${x%%,*}"
    data=x; ((x > 1)) || data=y # The data axis: across nodes, else the node.
    header="mesh { axes { name: \"x\" size: $x } axes { name: \"y\" size: 8 } }"
    base="$dir/$name-${mesh//[=,]/}"
    {
      echo "$header"
      echo "tensors { name: \"hidden_in\" spec: '[\"x\", null, null]' }"
      megatron_weights "$layers" y
    } > "$base-megatron.textproto"
    {
      echo "$header"
      echo "tensors { name: \"hidden_in\" spec: '[\"$data\", null, null]' }"
      stored_weights "$layers" '[null, null]'
    } > "$base-data.textproto"
    {
      echo "$header"
      echo "tensors { name: \"hidden_in\" spec: '[\"$data\", null, null]' }"
      stored_weights "$layers" "[\"$data\", null]"
    } > "$base-zero3.textproto"
    start=$(date +%s.%N)
    auto=$(step "$graph" --mesh "$mesh")
    end=$(date +%s.%N)
    megatron=$(step "$graph" --plan "$base-megatron.textproto")
    dp=$(step "$graph" --plan "$base-data.textproto")
    zero=$(step "$graph" --plan "$base-zero3.textproto")
    best=$(printf "%s\n" "$megatron" "$dp" "$zero" | grep . | sort -g | head -1)
    printf "%-6s %-6s %10s %12s %10s %10s %8s %9.1f\n" "$name" "${mesh//,/ }" \
      "$auto" "${megatron:--}" "${dp:--}" "${zero:--}" \
      "$(echo "scale=3; $auto / $best" | bc)" "$(echo "$end - $start" | bc)"
  done
done
