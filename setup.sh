#!/usr/bin/env bash
# Installs every Debian package Tessel needs (idempotent: packages already
# present are skipped) and builds the whole project with Bazel.
#
#   ./setup.sh            install what is missing, then `bazel build //...`
#   ./setup.sh --no-build install only
#   ./setup.sh --models   also install torch and onnx for Python, which
#                         tests/models/generate.py needs (tests do not)
#
# Works offline except for Debian's package registry. CUDA and NCCL are not
# Debian packages: the build uses them when /usr/local/cuda exists.
set -euo pipefail
cd "$(dirname "$0")"

# Keep this list in sync with docs/building.md.
PACKAGES=(
  # Build system: Debian's Bazel and the rule sets it needs offline.
  bazel-bootstrap bazel-skylib bazel-platforms bazel-rules-java bazel-rules-proto
  g++ pkg-config python3
  # MLIR/LLVM 22: libraries, mlir-tblgen, lit and FileCheck.
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools
  # Core C++ libraries.
  libabsl-dev libprotobuf-dev protobuf-compiler libgtest-dev libgmock-dev
  # Front end, kernels, solver, multi-process runtime.
  libonnx-dev libonnx-testdata libdnnl-dev libeigen3-dev coinor-libcbc-dev
  libopenmpi-dev openmpi-bin
  # Formatting.
  clang-format
  # Fuzzing (tests/fuzz, bench/fuzz.sh): clang with libFuzzer and the
  # sanitizer runtimes, and the OpenMP header clang needs for oneDNN's thread
  # setting (runtime/kernels/OpenMp.h; GCC's comes with g++). GCC's
  # AddressSanitizer (--config=asan) comes with g++.
  clang-22 libfuzzer-22-dev libclang-rt-22-dev libomp-22-dev
)

if [[ " $* " == *" --models "* ]]; then
  PACKAGES+=(python3-torch python3-onnx python3-numpy)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} missing package(s): ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi

if [[ " $* " != *" --no-build "* && " $* " != *" --models "* ]]; then
  echo "setup: building //..."
  bazel build //...
fi
