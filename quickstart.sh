#!/usr/bin/env bash
# Tessel's main job: installs what is missing and builds (./setup.sh), then
# compiles the bundled GPT-2-style model (tests/models/gpt2, exported by
# torch) for 8 host devices (mesh x=2,y=4) with the Megatron-style plan
# shipped beside it, prints the collectives each step runs, draws the plan
# (--report: an HTML page of layouts, timeline, memory, collectives), and
# runs it with --check: the outputs must match both torch's and the
# single-device program's.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
out="${TMPDIR:-/tmp}/tessel-quickstart"
mkdir -p "$out"
model=tests/models/gpt2
run() {
  echo "+ $*"
  "$@"
}
run bazel-bin/tools/tessel-compile "$model/model.onnx" --input-shape ids=2x16 \
  --mesh x=2,y=4 --plan "$model/megatron.textproto" -o "$out/gpt2.tessel" \
  --report "$out/plan.html"
run bazel-bin/tools/tessel-run "$out/gpt2.tessel" --inputs "ids=$model/ids.npy" \
  --outputs "output=$out/output.npy" --expect "output=$model/output.npy" --check
echo "quickstart: on 8 host devices the model matches torch and the" \
  "single-device program; executable and output in $out"
echo "quickstart: the plan (layouts, a step's timeline, memory, each" \
  "collective and why) is drawn in $out/plan.html: open it in a browser"
