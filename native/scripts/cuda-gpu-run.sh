#!/usr/bin/env bash
# On a GPU machine (no Node.js needed): builds the CUDA backend, runs the
# native tests (CPU and CUDA-vs-CPU), the CUDA engine benchmark and the
# PyTorch/transformers comparison of the same model shape, and writes
# everything as JSON and logs under the output folder.
#
# Usage: native/scripts/cuda-gpu-run.sh [out-dir]   (default: $OUT, else native/build-cuda/results)
# nvcc: $CUDACXX, else nvcc on the PATH or in /usr/local/cuda, else the PyPI
# wheels (scripts/cuda-toolchain.sh, which needs a package index).
# Env: CUDA_ARCHS (default 90 on this script: the H200's sm_90 code + PTX),
# JOBS (default: all cores), DECODE_STEPS (default 64), SKIP_TORCH=1.
set -uo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-${OUT:-$here/build-cuda/results}}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
build="$here/build-cuda"
jobs="${JOBS:-$(nproc)}"
status=0

nvcc="${CUDACXX:-}"
if [ -z "$nvcc" ] && command -v nvcc >/dev/null 2>&1; then nvcc="$(command -v nvcc)"; fi
if [ -z "$nvcc" ] && [ -x /usr/local/cuda/bin/nvcc ]; then nvcc=/usr/local/cuda/bin/nvcc; fi
if [ -z "$nvcc" ]; then nvcc="$("$here/scripts/cuda-toolchain.sh" | tail -n 1)/bin/nvcc"; fi
root="$(cd "$(dirname "$nvcc")/.." && pwd)"
{ echo "nvcc: $nvcc"; "$nvcc" --version; nvidia-smi || true; } >"$out/environment.txt" 2>&1

# Build.
if ! { cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFIRST_CUDA=ON -DFIRST_NATIVE_TESTS=ON \
         -DCMAKE_CUDA_COMPILER="$nvcc" -DCUDAToolkit_ROOT="$root" -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" &&
       cmake --build "$build" -j "$jobs"; } >"$out/build.log" 2>&1; then
  echo "build failed; see $out/build.log" >&2
  tail -n 40 "$out/build.log" >&2
  printf '{"build": "failed"}\n' >"$out/summary.json"
  exit 1
fi

# Tests: the CUDA ones first (the point of this run), then the whole suite.
"$build/first_native_tests" cuda >"$out/tests_cuda.log" 2>&1; tests_cuda=$?
"$build/first_native_tests" >"$out/tests_all.log" 2>&1; tests_all=$?
[ "$tests_cuda" -eq 0 ] && [ "$tests_all" -eq 0 ] || status=1
tail -n 1 "$out/tests_cuda.log" >&2

# Benchmark of the CUDA engine.
"$build/first_cuda_bench" "$out/bench_cuda.json" "${DECODE_STEPS:-64}" >"$out/bench_cuda.log" 2>&1; bench=$?
[ "$bench" -eq 0 ] || status=1
cat "$out/bench_cuda.log" >&2

# The same shape through PyTorch/transformers.
torch=skipped
if [ "${SKIP_TORCH:-0}" != 1 ]; then
  python3 "$here/bench/torch_compare.py" --out "$out/bench_torch.json" >"$out/bench_torch.log" 2>&1 && torch=0 || torch=$?
  tail -n 20 "$out/bench_torch.log" >&2
fi

printf '{"build": "ok", "tests_cuda_rc": %d, "tests_all_rc": %d, "bench_cuda_rc": %d, "bench_torch_rc": "%s"}\n' \
  "$tests_cuda" "$tests_all" "$bench" "$torch" >"$out/summary.json"
cat "$out/summary.json"
exit $status
