#!/usr/bin/env bash
# Evaluates the shipped mix routers (and their LoRA adapter) against the full
# model and the uls/random baselines at the same executed layers, on the eval
# splits of summarization (scitldr), question answering (adversarial_qa) and
# translation (wmt_ende), the first 50 examples of each, greedy.
# Usage: benchmarks/eval-mix-routers.sh [OUT_DIR] (default
# benchmarks/results/mix-routers-compare; rerunning resumes). Needs `pnpm build`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-benchmarks/results/mix-routers-compare}"
exec node packages/cli/dist/main.js eval --compare --model smollm2-135m-instruct \
  --task scitldr,adversarial_qa_t0,wmt_ende_onmt_toy \
  --routers packages/core/shipped/smollm2-135m-instruct-mix-routers-lora --baselines uls,random \
  --limit 50 --threads 2 --out "$OUT"
