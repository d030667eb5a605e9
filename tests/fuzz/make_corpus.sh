#!/usr/bin/env bash
# Makes the fuzz targets' seed corpus from tests/models:
#   make_corpus.sh <tessel-compile> <models directory> <output directory>
# writes <output>/{onnx,executable,params,plan}/: the ONNX models, executables
# compiled from them (one device, and partitioned with plans: halos, uneven
# shards, every collective kind), their parameter files, and plans.
set -euo pipefail
compile="$1" models="$2" out="$3"
mkdir -p "$out"/{onnx,executable,params,plan}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for model in mlp gpt2 resnet; do
  cp "$models/$model/model.onnx" "$out/onnx/$model.onnx"
done

cat > "$work/mlp_2x2.textproto" <<'PLAN'
mesh { axes { name: "x" size: 2 } axes { name: "y" size: 2 } }
tensors { name: "x" spec: '["x", null]' }
tensors { name: "fc1.weight" spec: '["y", null]' }
tensors { name: "fc2.weight" spec: '[null, "y"]' }
PLAN
cat > "$work/mlp_uneven.textproto" <<'PLAN'
mesh { axes { name: "x" size: 3 } }
tensors { name: "x" spec: '[null, "x"]' }
PLAN
cat > "$work/resnet_height.textproto" <<'PLAN'
mesh { axes { name: "x" size: 3 } }
tensors { name: "x" spec: '[null, null, "x", null]' }
PLAN
cat > "$work/fuzz_model.textproto" <<'PLAN'
mesh { axes { name: "x" size: 2 } axes { name: "y" size: 3 } }
tensors { name: "x" spec: '["x", null]' }
tensors { name: "fc1.weight" spec: '["y", null]' }
tensors { name: "h2" spec: '["x", "y"]' }
tensors { name: "logits" spec: '[?, null]' }
PLAN
cp "$work"/*.textproto "$out/plan/"
cp "$models/gpt2/megatron.textproto" "$out/plan/gpt2_megatron.textproto"

build() { # name, then tessel-compile's arguments
  local name="$1"
  shift
  "$compile" "$@" -o "$work/$name.tessel" >/dev/null 2>&1
  cp "$work/$name.tessel" "$out/executable/$name.tessel"
  if [[ -f "$work/$name.tessel.params" ]]; then
    cp "$work/$name.tessel.params" "$out/params/$name.params"
  fi
}
build mlp "$models/mlp/model.onnx" --input-shape x=4x64
build mlp_2x2 "$models/mlp/model.onnx" --input-shape x=4x64 --plan "$work/mlp_2x2.textproto"
build mlp_uneven "$models/mlp/model.onnx" --input-shape x=4x64 --plan "$work/mlp_uneven.textproto"
build gpt2_megatron "$models/gpt2/model.onnx" --input-shape ids=2x16 --plan "$models/gpt2/megatron.textproto"
build resnet_height "$models/resnet/model.onnx" --input-shape x=2x3x32x32 --plan "$work/resnet_height.textproto"
