#!/usr/bin/env bash
# Trains the shipped FiRST routers for SmolLM2-135M-Instruct on the task mix.
# Usage: benchmarks/train-mix-routers.sh [OUT_DIR] (default runs/mix-routers);
# interrupted runs continue with the same command (it resumes when OUT_DIR has
# a checkpoint). Needs the built CLI (pnpm build) and the datasets folder.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/mix-routers}"
RESUME=()
[ -f "$OUT/checkpoint/state.json" ] && RESUME=(--resume)
exec node packages/cli/dist/main.js train \
  --model smollm2-135m-instruct \
  --data mix --mix-per-task 500 \
  --out "$OUT" \
  --stage routers \
  --router-kind mlp --router-hidden 64 \
  --lambda 0.01 --alpha 1 \
  --epochs 1 --batch 4 --max-seq-len 512 \
  --lr 1e-3 --warmup 0.05 --weight-decay 0.01 --clip 1 \
  --hard-after 0.7 --threshold 0.5 \
  --seed 0 --save-every 50 --eval-every 0 \
  "${RESUME[@]}"
