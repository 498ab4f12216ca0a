#!/usr/bin/env bash
# Builds the libFuzzer targets into native/build-fuzz (ASan + UBSan, clang).
# Usage: native/fuzz/build.sh
#   FUZZ_JOBS    parallel compile jobs (default 2)
#   CXX          the clang++ to use (default: the newest clang++ on PATH)
#   FUZZ_ENGINE  another native/ tree whose engine to fuzz (default: this one)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../build-fuzz"
cxx="${CXX:-}"
if [[ -z "$cxx" ]]; then
  for c in clang++ clang++-{19..14}; do
    if command -v "$c" >/dev/null 2>&1; then cxx="$c"; break; fi
  done
fi
[[ -n "$cxx" ]] || { echo "build.sh: no clang++ found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
engine="$(cd "${FUZZ_ENGINE:-$here/..}" && pwd)"
cmake -S "$here" -B "$out" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DFIRST_ENGINE_DIR="$engine" >/dev/null
cmake --build "$out" -j "${FUZZ_JOBS:-2}" >/dev/null
echo "fuzz targets in $out: $(cd "$out" && ls -- *_fuzzer | tr '\n' ' ')"
