#!/usr/bin/env bash
# The measurement behind the host kernels' GEMM library (docs/design/
# runtime.md, "Choice of GEMM library"): OpenBLAS, BLIS and oneDNN on the
# shapes the benchmark models run, 1 thread, 2 threads splitting rows (as
# the pool does) and the library's own 2 threads. OPENBLAS_CORETYPE is
# left as the environment sets it. Installs libopenblas-dev and
# libblis-dev on first use; builds with g++ outside Bazel (the tree links
# only oneDNN).
#
#   bench/gemm_libraries.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
for pkg in libopenblas-dev libblis-dev libdnnl-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || $SUDO apt-get install -y -qq "$pkg" >/dev/null
done
out="$bench_root/gemm"; mkdir -p "$out"
src=bench/gemm_libraries.cpp
g++ -O2 -fopenmp -DUSE_OPENBLAS "$src" -o "$out/openblas" \
  -I/usr/include/x86_64-linux-gnu/openblas-pthread -lopenblas -lpthread
g++ -O2 -fopenmp -DUSE_BLIS "$src" -o "$out/blis" \
  -I/usr/include/x86_64-linux-gnu/blis-openmp \
  /usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so -lpthread
g++ -O2 -fopenmp "$src" -o "$out/onednn" -ldnnl -lpthread
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
for library in openblas blis onednn; do "$out/$library"; done
