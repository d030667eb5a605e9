#!/usr/bin/env bash
# The GPT-2-style model (batch 4, sequence 128, width 512, 4 layers, vocab
# 4096) on one host device, against onnxruntime (npm's onnxruntime-node) and
# PyTorch (Debian's torch), all on the same ONNX model, weights and inputs,
# with the same number of threads. Prints each side's time per run and peak
# memory, the ratios, and how far the outputs are from onnxruntime's.
#
#   bench/gpt2_host.sh [--threads 2] [--iterations 20]
#
# Installs what it needs on first use: torch (./setup.sh --models) and
# onnxruntime-node under $TESSEL_BENCH_DIR (default /tmp/tessel-bench).
set -euo pipefail
cd "$(dirname "$0")/.."

threads=2 iterations=20
while (($#)); do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --iterations) iterations="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
layers=4 width=512 vocab=4096 shape=4x128
source bench/lib.sh
bench="$bench_root"
./setup.sh --models >/dev/null # torch is a peer here, not only the generator
model="$(gpt2_bench_model "$layers" "$width" "$vocab" 2>/dev/null)"
dir="$(dirname "$model")"

gpt2_bench_ids "$dir" "$vocab" "$shape"
bin="$(opt_bazel_bin //tools:tessel-compile //tools:tessel-run)/tools"
"$bin/tessel-compile" "$model" --input-shape "ids=$shape" -o "$dir/gpt2.tessel"

tessel=$("$bin/tessel-run" "$dir/gpt2.tessel" --threads "$threads" \
  --iterations "$iterations" --inputs "ids=$dir/ids.npy" \
  --outputs "output=$dir/tessel_output.npy" | head -1)
ort=$(onnxruntime_peer "$model" "$dir/ids.bin" "$shape" "$iterations" \
  "$threads" "$dir/ort_output.bin")
torch=$(/usr/bin/python3 bench/peers/torch_run.py "$layers" "$width" "$vocab" \
  "$dir/ids.bin" "$shape" "$iterations" "$threads" "$dir/torch_output.bin" 2>/dev/null)

/usr/bin/python3 - "$dir" "$tessel" "$ort" "$torch" "$threads" <<'PY'
import re, sys, numpy as np
directory, tessel, ort, torch, threads = sys.argv[1:6]
def parse(line):
    ms, mb = re.search(r"time per run: ([\d.]+) ms .*peak memory ([\d.]+) MB", line).groups()
    return float(ms), float(mb)
sides = {"tessel": parse(tessel), "onnxruntime": parse(ort), "pytorch": parse(torch)}
reference = np.fromfile(directory + "/ort_output.bin", dtype=np.float32)
tessel_out = np.load(directory + "/tessel_output.npy").ravel()
torch_out = np.fromfile(directory + "/torch_output.bin", dtype=np.float32)
print("GPT-2-style model, batch 4 x seq 128, width 512, 4 layers, vocab 4096, %s threads" % threads)
print("%-12s %12s %14s" % ("", "ms per run", "peak memory"))
for name, (ms, mb) in sides.items():
    print("%-12s %12.2f %11.0f MB" % (name, ms, mb))
t, o, p = sides["tessel"][0], sides["onnxruntime"][0], sides["pytorch"][0]
print("ratio onnxruntime/tessel (speed of tessel vs onnxruntime, >= 1 is the target): %.2f" % (o / t))
print("ratio pytorch/tessel: %.2f   ratio pytorch/onnxruntime: %.2f" % (p / t, p / o))
print("largest |difference| from onnxruntime: tessel %.2e, pytorch %.2e" % (
    np.abs(tessel_out - reference).max(), np.abs(torch_out - reference).max()))
PY
