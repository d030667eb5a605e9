#!/usr/bin/env bash
# Plan quality at Alpa's GPT sizes (1.3B, 6.7B, 39B parameters), forward
# pass at sequence 1024, on one node of 8 and on 8 nodes of 8 devices of a
# profile (default H100): the modeled step of --auto's plan against the
# Megatron-LM plan (tensor parallel over the node's axis, data parallel
# across nodes; the same search with those weight shardings as
# constraints), and the time --auto takes. The graphs come from
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

step() { # plan flags... -> modeled ms
  "$compile" "$@" --auto --auto-seconds "$seconds" --device-profile "$profile" \
    --emit=plan -o /dev/null 2>&1 | sed -n 's/.*= \([0-9.]*\) ms$/\1/p'
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

printf "%-6s %-6s %12s %12s %7s %9s\n" model mesh "auto ms" "megatron ms" ratio "search s"
for config in "1.3B 24 2048 32" "6.7B 32 4096 32" "39B 48 8192 64"; do
  read -r name layers hidden heads <<<"$config"
  graph="$dir/gpt-$name.mlir"
  [[ -f "$graph" ]] || /usr/bin/python3 bench/gpt_graph.py --layers "$layers" \
    --hidden "$hidden" --heads "$heads" --seq 1024 --batch "$batch" > "$graph"
  for mesh in "x=1,y=8" "x=8,y=8"; do
    plan="$dir/megatron-$name-${mesh//[=,]/}.textproto"
    x="${mesh#x=}"; x="${x%%,*}"
    {
      echo "mesh { axes { name: \"x\" size: $x } axes { name: \"y\" size: 8 } }"
      echo "tensors { name: \"hidden_in\" spec: '[\"x\", null, null]' }"
      megatron_weights "$layers" y
    } > "$plan"
    start=$(date +%s.%N)
    auto=$(step "$graph" --mesh "$mesh")
    end=$(date +%s.%N)
    megatron=$(step "$graph" --plan "$plan")
    printf "%-6s %-6s %12s %12s %7s %9.1f\n" "$name" "${mesh//,/ }" "$auto" \
      "$megatron" "$(echo "scale=3; $auto / $megatron" | bc)" \
      "$(echo "$end - $start" | bc)"
  done
done
