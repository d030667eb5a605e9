#!/usr/bin/env bash
# Tessel's main job: installs what is missing and builds (./setup.sh), then
# runs tessel-opt on the bundled example and prints the result.
set -euo pipefail
cd "$(dirname "$0")"
./setup.sh
echo "quickstart: tessel-opt examples/quickstart.mlir --cse --canonicalize"
exec bazel-bin/tools/tessel-opt examples/quickstart.mlir --cse --canonicalize
