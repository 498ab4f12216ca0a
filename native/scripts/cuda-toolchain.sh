#!/usr/bin/env bash
# Installs a CUDA 13 compiler and runtime from PyPI (nvidia-cuda-nvcc,
# nvidia-cuda-runtime, nvidia-cuda-cccl) into an ignored folder, so the CUDA
# backend can be compiled on a machine without a CUDA toolkit (CI has none).
# Prints the CUDA root (the folder holding bin/nvcc) as its last line.
#
# Usage: native/scripts/cuda-toolchain.sh [folder]   (default native/.cuda-toolchain)
# A toolkit that is already installed there is reused.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$here/.cuda-toolchain}"
root="$dest/nvidia/cu13"

if [ ! -x "$root/bin/nvcc" ]; then
  mkdir -p "$dest"
  echo "installing the CUDA 13 compiler wheels into $dest" >&2
  python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
    --target "$dest" --upgrade \
    "nvidia-cuda-nvcc>=13,<14" "nvidia-cuda-runtime>=13,<14" "nvidia-cuda-cccl>=13,<14" >&2
fi
if [ ! -x "$root/bin/nvcc" ]; then
  echo "cuda-toolchain: nvcc was not found under $root after installing the wheels" >&2
  exit 1
fi
# The wheels ship only the versioned runtime; linkers look for libcudart.so.
if [ -e "$root/lib/libcudart.so.13" ] && [ ! -e "$root/lib/libcudart.so" ]; then
  ln -s libcudart.so.13 "$root/lib/libcudart.so"
fi
"$root/bin/nvcc" --version | tail -n 2 >&2
echo "$root"
