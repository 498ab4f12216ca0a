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

stage() {
  local out="$1" done_file="$2"; shift 2
  [ -f "$done_file" ] && { echo "$out: done"; return; }
  if [ -f "$out/checkpoint/state.json" ]; then "${FIRST[@]}" train --out "$out" --resume
  else "${FIRST[@]}" train --out "$out" "$@"; fi
}

for policy in $POLICIES; do
  dir="$RUN/${policy//:/}"
  stage "$dir/lora-stage" "$dir/lora-stage/lora/adapter_model.safetensors" \
    --model "$MODEL" --data mix --mix-per-task 400 --mix-counts translation=700,summarization=300,math=200 \
    --stage lora --policy "$policy" \
    --lora-rank 16 --lora-alpha 32 --lora-targets q,k,v,o,gate,up,down --lora-lr 1e-3 --loss-weighting sequences \
    --steps 400 --batch 4 --max-seq-len 256 --warmup 0.05 --seed 0 --save-every 50 --eval-every 0
  stage "$dir/lora-translation" "$dir/lora-translation/lora/adapter_model.safetensors" \
    --model "$MODEL" --data mix --mix-per-task 40 --mix-counts translation=320,math=0 \
    --stage lora --policy "$policy" --init-lora "$dir/lora-stage/lora" \
    --lora-lr 3e-4 --loss-weighting sequences \
    --steps 100 --batch 4 --max-seq-len 256 --warmup 0.05 --seed 2 --save-every 25 --eval-every 0
  mkdir -p "$dir/lora"
  cp "$dir/lora-translation/lora/adapter_config.json" "$dir/lora-translation/lora/adapter_model.safetensors" "$dir/lora/"
  echo "$policy: $dir/lora"
done
