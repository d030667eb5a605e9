#!/usr/bin/env bash
# Tessel's main job: installs what is missing and builds (./setup.sh), then
# compiles the bundled GPT-2-style model (tests/models/gpt2, exported by
# torch) and runs it on the host, checking its output against torch's.
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
  -o "$out/gpt2.tessel"
run bazel-bin/tools/tessel-run "$out/gpt2.tessel" --inputs "ids=$model/ids.npy" \
  --outputs "output=$out/output.npy" --expect "output=$model/output.npy"
echo "quickstart: the compiled model matches torch's output; executable and" \
  "output in $out"
