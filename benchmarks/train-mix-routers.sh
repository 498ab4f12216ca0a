#!/usr/bin/env bash
# Reproduces the shipped FiRST routers and LoRA adapter for
# SmolLM2-135M-Instruct (packages/core/shipped/smollm2-135m-instruct-mix-routers-lora), on the task mix
# of the datasets folder (../shared/data or $FIRST_DATA).
#
# Usage: benchmarks/train-mix-routers.sh [RUN_DIR] [SHIP_DIR]
#   RUN_DIR  (default runs/mix-routers): training outputs and checkpoints;
#            an interrupted run continues with the same command (each stage
#            resumes from its checkpoint, finished stages are not redone).
#   SHIP_DIR (default packages/core/shipped/smollm2-135m-instruct-mix-routers-lora): the routers with
#            their threshold and the adapter in SHIP_DIR/lora.
# Needs `pnpm build`. Took 23 min (routers) + 43 min + 7 min (LoRA) on 2 cores
# (AMD EPYC, AVX2); the weights are bit-identical for the same thread count.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/mix-routers}"
SHIP="${2:-packages/core/shipped/smollm2-135m-instruct-mix-routers-lora}"
FIRST=(node packages/cli/dist/main.js)
MODEL=smollm2-135m-instruct
THRESHOLD=0.59

# stage, mix_lora_stages
source benchmarks/mix-lora-stages.sh

# Stage 1: routers alone (soft gates, hard straight-through gates from 60% of the steps).
# The budget holds for each batch, not each prompt, and every sequence's
# cross-entropy counts the same: prompts whose answers suffer from skipping
# (short QA answers) keep their layers, others give up more.
stage "$RUN/routers-stage" "$RUN/routers-stage/routers/routers.safetensors" \
  --model "$MODEL" --data mix --mix-per-task 200 --stage routers \
  --router-kind mlp --router-hidden 64 --lambda 0.01 --alpha 1 --target 0.55 --budget-weight 10 \
  --budget-over batch --loss-weighting sequences \
  --steps 200 --batch 4 --max-seq-len 256 --lr 0.03 --warmup 0.05 --hard-after 0.6 --threshold 0.5 \
  --seed 0 --save-every 25 --eval-every 0

# The threshold for stage 2 and for shipping: at 0.5 these routers skip 5.9 of
# 27 routable layers on train-split prompts (21.8%), at 0.53 6.7 (24.9%).
# Stage 2 decides each sequence's layers with the adapter in place (as at
# inference), and the adapter makes the routers skip less: the previous
# adapter, trained at 0.53, skipped 5.1 layers there and 6.3 at 0.59. So stage 2
# trains at 0.59, the threshold it ships with. Measured with
#   node benchmarks/dist/router-thresholds.js --routers $RUN/routers-stage/routers --thresholds 0.45,0.5,0.53,0.56,0.6 --per-task 8
set_threshold() {
  node -e '
    const fs = require("fs"), [file, t] = process.argv.slice(1);
    const j = JSON.parse(fs.readFileSync(file, "utf8"));
    if (j.threshold !== Number(t)) { j.threshold = Number(t); fs.writeFileSync(file, JSON.stringify(j, null, 2) + "\n"); }
  ' "$1" "$2"
}
set_threshold "$RUN/routers-stage/routers/router.json" "$THRESHOLD"

# Stages 2 and 3 (mix-lora-stages.sh): LoRA on all seven projections with the
# routers' hard decisions at that threshold, then a translation stage.
mix_lora_stages "$RUN" --routers "$RUN/routers-stage/routers"

mkdir -p "$SHIP/lora"
cp "$RUN/routers-stage/routers/router.json" "$RUN/routers-stage/routers/routers.safetensors" "$SHIP/"
cp "$RUN/lora-translation/lora/adapter_config.json" "$RUN/lora-translation/lora/adapter_model.safetensors" "$SHIP/lora/"
echo "shipped: $SHIP (routers, threshold $THRESHOLD) and $SHIP/lora (adapter)"
