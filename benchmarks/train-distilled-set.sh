#!/usr/bin/env bash
# Trains a FiRST adapter for SmolLM2-135M-Instruct by sequence-level
# distillation, under a fixed layer budget, and the baselines' adapters on
# the same data, steps, rank and targets.
#
# 1. distill: the full model's own greedy responses to 1,450 training prompts
#    (900 from t0_mix's train split, 150 each from summarization, translation
#    and QA, 100 from math), so the adapter learns to reproduce the full model
#    rather than a task's references.
# 2. FiRST: a rank-8 LoRA on all seven projections, each sequence running
#    exactly BUDGET layers ranked by the shipped routers (as `--max-layers` at
#    inference).
# 3. Baselines: the same LoRA under uls:K and bi:K (K = 30 - BUDGET).
#
# Usage: benchmarks/train-distilled-set.sh [RUN_DIR] [stages...]
#   RUN_DIR (default runs/distilled); stages: distill first uls bi (default: all).
# Every stage resumes where it stopped; finished stages are skipped.
# Needs `pnpm build`.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/distilled}"
shift || true
if [ $# -gt 0 ]; then STAGES=("$@"); else STAGES=(distill first uls bi); fi
FIRST=(node packages/cli/dist/main.js)
MODEL=smollm2-135m-instruct
ROUTERS=packages/core/shipped/smollm2-135m-instruct-mix-routers-lora
BUDGET=21
K=$((30 - BUDGET))
DATA="$RUN/distill.jsonl"
LORA=(--lora-rank 8 --lora-alpha 16 --lora-targets q,k,v,o,gate,up,down --lora-lr 1e-3 --loss-weighting sequences
      --steps 300 --batch 4 --max-seq-len 256 --warmup 0.05 --seed 0 --save-every 25 --eval-every 0)
mkdir -p "$RUN"

# Runs a LoRA stage unless its adapter exists; resumes it from its checkpoint.
lora_stage() {
  local out="$1"; shift
  [ -f "$out/lora/adapter_model.safetensors" ] && { echo "$out: done"; return; }
  if [ -f "$out/checkpoint/state.json" ]; then "${FIRST[@]}" train --out "$out" --resume
  else "${FIRST[@]}" train --model "$MODEL" --data "$DATA" --out "$out" --stage lora "${LORA[@]}" "$@"; fi
}

for stage in "${STAGES[@]}"; do
  case "$stage" in
    distill)
      # Appends as it goes; the same command continues an interrupted run.
      "${FIRST[@]}" distill --model "$MODEL" --data mix --mix-per-task 150 --mix-counts instructions=900,math=100 \
        --out "$DATA" --max-tokens 96 --max-prompt-tokens 160 --concurrency 8 ;;
    first) lora_stage "$RUN/first-max$BUDGET" --routers "$ROUTERS" --max-layers "$BUDGET" ;;
    uls) lora_stage "$RUN/uls$K" --policy "uls:$K" ;;
    bi) lora_stage "$RUN/bi$K" --policy "bi:$K" ;;
    *) echo "unknown stage $stage (distill, first, uls, bi)" >&2; exit 2 ;;
  esac
done
