#!/usr/bin/env bash
# Installs every Debian package Tessel needs (idempotent: packages already
# present are skipped) and builds the whole project with Bazel.
#
#   ./setup.sh            install what is missing, then `bazel build //...`
#   ./setup.sh --no-build install only
#   ./setup.sh --models   install only (kept for older instructions: torch
#                         and onnx are now always installed)
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
  # Auto-sharding's exact solves (passes/autoshard/Toulbar2Solver.cpp).
  toulbar2
  # The Python package (python/): pybind11 and Python's headers, pip to
  # install its wheel; numpy, torch, onnx and pytest for its tests.
  pybind11-dev python3-dev python3-pip python3-numpy python3-torch python3-onnx
  python3-pytest python3-psutil
  # Formatting.
  clang-format
  # tessel-tune's HTML report is checked in a headless browser
  # (tests/e2e/tune_report.test).
  chromium
  # Fuzzing (tests/fuzz, bench/fuzz.sh): clang with libFuzzer and the
  # sanitizer runtimes, and the OpenMP header clang needs for oneDNN's thread
  # setting (runtime/kernels/OpenMp.h; GCC's comes with g++). GCC's
  # AddressSanitizer (--config=asan) comes with g++.
  clang-22 libfuzzer-22-dev libclang-rt-22-dev libomp-22-dev
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} missing package(s): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi

if [[ " $* " != *" --no-build "* && " $* " != *" --models "* ]]; then
  echo "setup: building //..."
  bazel build //...
  # The C API for programs built with `pkg-config --cflags --libs tessel`
  # (uninstall: compiler/api/c/install.sh --prefix /usr/local --uninstall).
  echo "setup: installing the C API (libtessel.so, tessel.h, tessel.pc) under /usr/local"
  $SUDO compiler/api/c/install.sh --prefix /usr/local \
    --library bazel-bin/compiler/api/c/libtessel.so \
    --header compiler/api/c/tessel/tessel.h
  $SUDO ldconfig
  # The Python package, for Debian's /usr/bin/python3 (uninstall:
  # /usr/bin/python3 -m pip uninstall --break-system-packages tessel).
  echo "setup: installing the tessel Python package for /usr/bin/python3"
  $SUDO /usr/bin/python3 -m pip install --quiet --no-deps --no-index \
    --force-reinstall --break-system-packages --root-user-action=ignore \
    bazel-bin/python/tessel-0.1.0-cp311-cp311-linux_x86_64.whl
fi
