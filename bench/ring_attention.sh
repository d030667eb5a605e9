#!/usr/bin/env bash
# Ring attention against gathered keys and values, on a long sequence.
#
# A GPT-2-style model (2 layers, width 256, 4 heads, 2048 positions,
# written once to $bench_root/gpt2_ring) on one sequence of 2048 tokens,
# the sequence split over 2 and 4 host devices. Each plan compiled three
# times: --ring-attention=always (key/value blocks passed around the ring,
# the causal attention's work balanced across it: zigzag), =unbalanced
# (the ring, every device scoring every block under the mask) and =never
# (keys and values gathered whole before each attention). Prints
# the collectives, the bytes each device sends (ring-priced, lib.sh
# ring_bytes), the arena's peak per device (--explain-memory, the
# executable's own figure), and the median time of --iterations runs
# with tessel-run, checked against the single-device program once.
#
#   bench/ring_attention.sh [--iterations 5] [--tokens 2048]
set -euo pipefail
cd "$(dirname "$0")/.."

iterations=5 tokens=2048
while (($#)); do
  case "$1" in
    --iterations) iterations="$2"; shift 2 ;;
    --tokens) tokens="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
bin="$(opt_bazel_bin //tools:tessel-compile //tools:tessel-run)/tools"
dir="$bench_root/gpt2_ring"
vocab=1024
if [[ ! -f "$dir/gpt2_bench.onnx" ]]; then
  ./setup.sh --models >&2
  /usr/bin/python3 tests/models/generate.py --gpt2-bench "$dir" --layers 2 \
    --width 256 --vocab "$vocab" --positions 2048 >&2
fi
gpt2_bench_ids "$dir" "$vocab" "1x$tokens"

printf '%-8s %-9s %-32s %12s %10s %8s  %s\n' devices attention collectives \
  "B/device" "arena MiB" "ms" "max error vs one device"
for n in 2 4; do
  plan="$dir/seq$n.textproto"
  echo "mesh { axes { name: \"x\" size: $n } }" > "$plan"
  echo "tensors { name: \"ids\" spec: '[null, \"x\"]' }" >> "$plan"
  for ring in always unbalanced never; do
    exe="$dir/seq$n-$ring.tessel"
    text=$("$bin/tessel-compile" "$dir/gpt2_bench.onnx" --input-shape "ids=1x$tokens" \
      --plan "$plan" --ring-attention="$ring" --explain-memory \
      --explain-collectives -o "$exe" 2>&1)
    collectives=$(counts <<<"$text")
    bytes=$(ring_bytes <<<"$text")
    arena=$(sed -n 's/.*arena peak \([0-9.]*\) \([KM]\)iB.*/\1 \2/p' <<<"$text" \
      | awk '{ printf "%.1f", $2 == "K" ? $1 / 1024 : $1 }')
    ms=$("$bin/tessel-run" "$exe" --inputs "ids=$dir/ids.npy" --iterations "$iterations" \
      | sed -n 's/^time per run: \([0-9.]*\) ms.*/\1/p')
    error=$("$bin/tessel-run" "$exe" --inputs "ids=$dir/ids.npy" --check --atol 1e-3 \
      | sed -n 's/.*vs the single-device program: largest error \([^ ]*\).*/\1/p')
    printf '%-8s %-9s %-32s %12d %10s %8.1f  %s\n' "$n" \
      "$(case $ring in always) echo ring ;; unbalanced) echo unbalanced ;;
         *) echo gathered ;; esac)" "$collectives" \
      "$bytes" "$arena" "$ms" "$error"
  done
done
