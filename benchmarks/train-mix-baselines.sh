#!/usr/bin/env bash
# Baseline adapters for the shipped set: the LoRA stages of train-mix-routers.sh
# (same data, steps, rank, targets, learning rates and seeds) under a fixed layer
# policy instead of the routers, so that `uls:k+lora` and `bi:k+lora` meet FiRST +
# adapter on equal terms (k = 6: the shipped routers skip 5.7 of 27 routable
# layers with their adapter on the mix's eval splits).
#
# Usage: benchmarks/train-mix-baselines.sh [RUN_DIR] [POLICIES]
#   RUN_DIR  (default runs/mix-baselines): one folder per policy, e.g. uls6/lora/
#   POLICIES (default "uls:6 bi:6")
# Resumable like train-mix-routers.sh. Needs `pnpm build`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/mix-baselines}"
POLICIES="${2:-uls:6 bi:6}"
FIRST=(node packages/cli/dist/main.js)
MODEL=smollm2-135m-instruct

# stage, mix_lora_stages
source benchmarks/mix-lora-stages.sh

for policy in $POLICIES; do
  dir="$RUN/${policy//:/}"
  mix_lora_stages "$dir" --policy "$policy"
  mkdir -p "$dir/lora"
  cp "$dir/lora-translation/lora/adapter_config.json" "$dir/lora-translation/lora/adapter_model.safetensors" "$dir/lora/"
  echo "$policy: $dir/lora"
done
