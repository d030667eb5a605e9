#!/usr/bin/env bash
# The host backend on a set of models against onnxruntime (npm's
# onnxruntime-node) and PyTorch (Debian's torch), same ONNX files, weights
# and inputs, with 1 and 2 threads: the GPT-2-style model of gpt2_host.sh, a
# ResNet-style and a MobileNet-style network (depthwise convolutions) at
# batch 1 (tests/models/generate.py --conv-bench). Then start-up: one run of
# the tiny MLP test model as a whole process, wall time and peak memory,
# against a Node.js process running it on onnxruntime.
#
#   bench/host_models.sh [--iterations 20]
#
# Prints, per model and thread count, each side's time per run, the ratio
# onnxruntime/tessel (>= 1: Tessel is as fast) and how far Tessel's output
# is from onnxruntime's. Uses the binaries the README's build makes.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

iterations=20
while (($#)); do
  case "$1" in
    --iterations) iterations="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
source bench/lib.sh
bench="$bench_root"
./setup.sh --models >/dev/null
bin="$(opt_bazel_bin //tools:tessel-compile //tools:tessel-run)/tools"

# The models, compiled once: NAME DIR MODEL INPUT SHAPE TYPE.
models=()
gpt2="$(gpt2_bench_model 4 512 4096 2>/dev/null)"
gpt2_dir="$(dirname "$gpt2")"
gpt2_bench_ids "$gpt2_dir" 4096 4x128
models+=("gpt2 $gpt2_dir $gpt2 ids 4x128 int64")
conv="$bench/conv"
if [[ ! -f "$conv/mobilenet_bench/model.onnx" ]]; then
  /usr/bin/python3 tests/models/generate.py --conv-bench "$conv" >&2
fi
for name in resnet_bench mobilenet_bench; do
  d="$conv/$name"
  /usr/bin/python3 -c "import numpy as np; np.load('$d/x.npy').astype(np.float32).tofile('$d/x.bin')"
  models+=("${name%_bench} $d $d/model.onnx x $(cut -d= -f2 "$d/shapes") float32")
done

results="$(mktemp -t tessel-host-models.XXXXXX)"
trap 'rm -f "$results" "$results.time"' EXIT
for entry in "${models[@]}"; do
  read -r name dir model input shape type <<<"$entry"
  data="$dir/$input.npy"; raw="$dir/$input.bin"
  [[ "$name" == gpt2 ]] && raw="$dir/ids.bin"
  "$bin/tessel-compile" "$model" --input-shape "$input=$shape" -o "$dir/bench.tessel"
  for threads in 1 2; do
    tessel=$("$bin/tessel-run" "$dir/bench.tessel" --threads "$threads" \
      --iterations "$iterations" --inputs "$input=$data" \
      --outputs "output=$dir/tessel_output.npy" | head -1)
    onnxruntime=$(onnxruntime_peer "$model" "$raw" "$shape" "$iterations" "$threads" \
      "$dir/ort_output.bin" "$type")
    if [[ "$name" == gpt2 ]]; then
      torch=$(/usr/bin/python3 bench/peers/torch_run.py 4 512 4096 "$raw" \
        "$shape" "$iterations" "$threads" "$dir/torch_output.bin" 2>/dev/null)
    else
      torch=$(/usr/bin/python3 bench/peers/torch_models.py "${name}_bench" \
        "$iterations" "$threads" "$dir/torch_output.bin" 2>/dev/null)
    fi
    echo "$name|$threads|$dir|$tessel|$onnxruntime|$torch" >>"$results"
  done
done

# Start-up: the whole process, one run of the tiny model.
mlp="$root/tests/models/mlp"
"$bin/tessel-compile" "$mlp/model.onnx" --input-shape "x=$(cut -d= -f2 $mlp/shapes)" \
  -o "$bench/mlp.tessel"
/usr/bin/python3 -c "import numpy as np; np.load('$mlp/x.npy').astype(np.float32).tofile('$bench/mlp_x.bin')"
startup() { # prints "seconds kilobytes" of the command's best of 5 runs
  local best="" line
  for _ in 1 2 3 4 5; do
    /usr/bin/time -o "$results.time" -f "%e %M" "$@" >/dev/null 2>&1
    line=$(tail -1 "$results.time")
    if [[ -z "$best" ]] || (( $(echo "${line% *} < ${best% *}" | bc) )); then best="$line"; fi
  done
  echo "$best"
}
tessel_start=$(startup "$bin/tessel-run" "$bench/mlp.tessel" --threads 2 --iterations 1 \
  --inputs "x=$mlp/x.npy")
ort_start=$(cd "$bench/ort" && startup env NODE_PATH="$bench/ort/node_modules" node \
  "$root/bench/peers/onnxruntime_run.js" "$mlp/model.onnx" "$bench/mlp_x.bin" \
  "$(cut -d= -f2 $mlp/shapes)" 1 2 /dev/null float32)

/usr/bin/python3 - "$results" "$tessel_start" "$ort_start" <<'PY'
import re, sys, numpy as np
rows = [line.rstrip("\n").split("|") for line in open(sys.argv[1])]
def ms(line):
    return float(re.search(r"time per run: ([\d.]+) ms", line).group(1))
print("%-10s %7s %10s %12s %10s %14s %10s %12s" % (
    "model", "threads", "tessel ms", "onnxruntime", "pytorch", "ort/tessel", "pt/tessel", "max |diff|"))
for name, threads, directory, tessel, ort, torch in rows:
    reference = np.fromfile(directory + "/ort_output.bin", dtype=np.float32)
    ours = np.load(directory + "/tessel_output.npy").ravel()
    t, o, p = ms(tessel), ms(ort), ms(torch)
    print("%-10s %7s %10.2f %12.2f %10.2f %14.2f %10.2f %12.2e" % (
        name, threads, t, o, p, o / t, p / t, np.abs(ours - reference).max()))
(ts, tk), (os_, ok) = (v.split() for v in sys.argv[2:4])
print("start-up, tiny MLP, one run as a whole process (best of 5):")
print("  tessel-run %.2f s, %.0f MB peak; onnxruntime (Node.js) %.2f s, %.0f MB peak" % (
    float(ts), int(tk) / 1024, float(os_), int(ok) / 1024))
print("  ratios tessel/onnxruntime (<= 1.5 is the target): time %.2f, memory %.2f" % (
    float(ts) / float(os_), int(tk) / int(ok)))
PY
