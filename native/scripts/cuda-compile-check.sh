#!/usr/bin/env bash
# Compiles the CUDA backend without needing a GPU (the CI check): configures
# native/build-cuda with FIRST_CUDA=ON for sm_80 and sm_90 machine code plus
# compute_90 PTX, builds the engine, the CUDA sources, the native tests (CPU
# and CUDA) and the CUDA benchmark, then runs the tests: on a machine without
# a GPU the CUDA ones print that they skip. nvcc: $CUDACXX, else nvcc on the
# PATH, else the PyPI wheels (scripts/cuda-toolchain.sh).
#
# Usage: native/scripts/cuda-compile-check.sh [build-dir]   (jobs: $JOBS, default 2)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$here/build-cuda}"
jobs="${JOBS:-2}"

nvcc="${CUDACXX:-}"
if [ -z "$nvcc" ] && command -v nvcc >/dev/null 2>&1; then nvcc="$(command -v nvcc)"; fi
if [ -z "$nvcc" ]; then
  root="$("$here/scripts/cuda-toolchain.sh" | tail -n 1)"
  nvcc="$root/bin/nvcc"
fi
root="$(cd "$(dirname "$nvcc")/.." && pwd)"
echo "cuda-compile-check: nvcc $nvcc" >&2

cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFIRST_CUDA=ON -DFIRST_NATIVE_TESTS=ON \
  -DCMAKE_CUDA_COMPILER="$nvcc" -DCUDAToolkit_ROOT="$root" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-80-real;90}"
cmake --build "$build" -j "$jobs"
"$build/first_native_tests" cuda
