#!/usr/bin/env bash
# tessel-tune on the MLP, the GPT-2-style and the ResNet-style test models
# and the GPT-2-style bench model, for 4 and 8 host devices, every
# candidate measured (--top-k 64): per model and device count, the measured
# time of the tuned plan against the best expert plan (data_parallel,
# megatron or data_x_megatron, on any mesh) and against the plan the
# uncalibrated cost model ranks first (what --auto alone would pick), all
# three measured together in tessel-tune's head-to-head round, and
# the cost model's error and ranking before and after calibration.
#
#   bench/tune_models.sh [--budget 5m] [--runs 5] [--models "mlp gpt2 resnet gpt2-bench"] [--devices "4 8"]
set -euo pipefail
cd "$(dirname "$0")/.."
budget=5m runs=5 models="mlp gpt2 resnet gpt2-bench" device_counts="4 8"
while (($#)); do
  case "$1" in
    --budget) budget="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --devices) device_counts="$2"; shift 2 ;;
    *) echo "tune_models.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
bazel build //tools:tessel-tune >&2
scratch="$(mktemp -d -t tessel-tune.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
# The GPT-2-style bench model (4 layers, width 512, vocab 4096; torch makes
# it on first use), where plans differ by more than the machine's noise.
source bench/lib.sh
bench_gpt2=
[[ " $models " != *" gpt2-bench "* ]] ||
  bench_gpt2="$(gpt2_bench_model 4 512 4096 2>/dev/null)"

for case in "mlp tests/models/mlp/model.onnx x=64x64" \
            "gpt2 tests/models/gpt2/model.onnx ids=8x16" \
            "resnet tests/models/resnet/model.onnx x=8x3x32x32" \
            "gpt2-bench $bench_gpt2 ids=4x128"; do
  read -r label model shape <<<"$case"
  [[ " $models " == *" $label "* ]] || continue
  for devices in $device_counts; do
    log="$scratch/$label-$devices.log"
    start=$(date +%s.%N)
    bazel-bin/tools/tessel-tune "$model" --input-shape "$shape" \
      --devices "$devices" --budget "$budget" --top-k 64 --runs "$runs" \
      --log "$log" >"$scratch/table" 2>/dev/null
    cold=$(echo "$(date +%s.%N) - $start" | bc)
    start=$(date +%s.%N)
    bazel-bin/tools/tessel-tune "$model" --input-shape "$shape" \
      --devices "$devices" --budget "$budget" --top-k 64 --runs "$runs" \
      --log "$log" >/dev/null 2>&1
    warm=$(echo "$(date +%s.%N) - $start" | bc)
    /usr/bin/python3 - "$scratch/table" "$label" "$devices" "$cold" "$warm" <<'PYEOF'
import re, sys
path, label, devices, cold, warm = sys.argv[1:]
rows, summary = [], ""
for line in open(path):
    # mesh, candidate, plan ("3/21 split"), modeled, calibrated, measured
    m = re.match(r"(\S+)\s+(\S+)\s+(?:\d+/\d+ split|-)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+) \(", line)
    if m:
        rows.append((m.group(1), m.group(2), float(m.group(3)),
                     float(m.group(4)), float(m.group(5))))
    if line.startswith("cost model"):
        summary = line.strip()
if not rows:
    sys.exit(f"{label}: no candidate measured")
# The ratios come from tessel-tune's head-to-head round (the search's
# fastest, the best expert plan and --auto's, measured again together):
# the search's own medians come from rounds at different times, and the
# fastest of many noisy ones flatters itself.
confirmed, verdict = {}, ""
for line in open(path):
    m = re.match(r"  (search's #\d|expert #\d|uncalibrated auto):\s+(\S+) (\S+) ([\d.]+) ms", line)
    if m:
        confirmed[m.group(1)] = (m.group(2), m.group(3), float(m.group(4)))
    if line.startswith("tuned: "):
        verdict = line.strip()
if not verdict:
    sys.exit(f"{label}: no head-to-head round in tessel-tune's output")
tuned = min(confirmed.values(), key=lambda r: r[2])
experts = [r for role, r in confirmed.items() if role.startswith("expert")]
expert = min(experts, key=lambda r: r[2]) if experts else None
auto = confirmed.get("uncalibrated auto")
def ratio(other):
    return f"{tuned[2] / other[2]:.2f} ({other[0]} {other[1]} {other[2]:.3f} ms)" if other else "-"
print(f"{label}, {devices} devices: tuned {tuned[0]} {tuned[1]} "
      f"{tuned[2]:.3f} ms; vs best expert {ratio(expert)}; vs uncalibrated "
      f"--auto {ratio(auto)}; search {float(cold):.1f} s cold, "
      f"{float(warm):.1f} s with the log")
print(f"  {summary}")
PYEOF
  done
done
