#!/usr/bin/env bash
# CI for the fuzz targets: builds them (ASan + UBSan + libFuzzer), replays
# every regression input, then fuzzes each target for a bounded time from the
# seed corpus. Fails on any crash, sanitizer report, timeout or allocation
# past the bound below.
#
# Usage: native/fuzz/ci.sh [seconds per target, default 60]
# Needs packages/core/dist (pnpm build) for the seed writer. Installs clang
# with apt-get when it is missing and this runs as root.
#
# Bounds per input: no single allocation above 256 MB (-malloc_limit_mb), the
# process under 1 GB resident (-rss_limit_mb; ASan's shadow and quarantine
# count), and 10 s of run time (-timeout).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$here/../build-fuzz"
seconds="${1:-60}"
targets=(gguf_parse model_load hf_checkpoint)
limits=(-rss_limit_mb=1024 -malloc_limit_mb=256 -timeout=10)

have_clang() {
  local c
  for c in clang++ clang++-{14..19}; do command -v "$c" >/dev/null 2>&1 && return 0; done
  return 1
}
if ! have_clang; then
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "fuzz: installing clang-14 and its runtime (libFuzzer, sanitizers)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang-14 libclang-rt-14-dev >/dev/null; } ||
      { echo "fuzz: cannot install clang" >&2; exit 1; }
  else
    echo "fuzz: clang++ is missing (apt-get install clang-14 libclang-rt-14-dev)" >&2
    exit 1
  fi
fi

"$here/build.sh" || exit 1
rm -rf "$out/seeds" && node "$here/make-seeds.mjs" "$out/seeds" >/dev/null || exit 1

failed=()
# Regression inputs: the committed ones, plus the shared folder beside the
# repo when there is one. Every GGUF goes through both GGUF targets; the
# packed checkpoint folders of regressions/hf_checkpoint through their own.
shared="$repo/../shared/fuzz"
gguf_inputs=()
for f in "$here"/regressions/gguf_parse/* "$here"/regressions/model_load/* "$shared"/*.gguf; do
  [[ -f "$f" ]] && gguf_inputs+=("$f")
done
hf_inputs=()
for f in "$here"/regressions/hf_checkpoint/*; do [[ -f "$f" ]] && hf_inputs+=("$f"); done
for t in "${targets[@]}"; do
  if [[ "$t" == hf_checkpoint ]]; then inputs=("${hf_inputs[@]}"); else inputs=("${gguf_inputs[@]}"); fi
  printf 'fuzz: %s replays %d regression inputs\n' "$t" "${#inputs[@]}"
  for f in "${inputs[@]}"; do  # one run each, so that every failing input is reported
    log="$out/$t-regression-$(basename "$f").log"
    if ! "$out/${t}_fuzzer" "${limits[@]}" "$f" >"$log" 2>&1; then
      echo "fuzz: $t FAILED on $f (log: $log)"
      grep -E 'ERROR|SUMMARY|^    #[0-9]+ .* in first::' "$log" | head -n 6 | sed 's/^/  /'
      failed+=("$t $(basename "$f")")
    fi
  done
done

# Bounded fuzzing. The corpus persists in build-fuzz between local runs; in a
# fresh clone it starts from the seeds (the regression inputs ran above).
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  artifacts="$out/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  cp -n "$out/seeds/$t"/* "$corpus"/
  [[ "$t" == gguf_parse ]] && cp -n "$out/seeds/model_load"/* "$corpus"/
  log="$out/$t-fuzz.log"
  printf 'fuzz: %s for %ss\n' "$t" "$seconds"
  if "$out/${t}_fuzzer" "${limits[@]}" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units' "$log" | sed "s/^/fuzz: $t /"
  else
    echo "fuzz: $t FAILED (log: $log); reproducer:"
    ls -t "$artifacts" | head -n 1 | sed "s|^|  $artifacts/|"
    grep -E 'ERROR|SUMMARY|^    #[0-9]+ .* in first::' "$log" | head -n 8
    echo "  (add the reproducer to native/fuzz/regressions/$t/ once fixed)"
    failed+=("$t fuzzing")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: FAILED: ${failed[*]}"
  exit 1
fi
echo "fuzz: clean"
