#!/usr/bin/env bash
# Evaluates the distilled adapter of benchmarks/train-distilled-set.sh on the
# eval-only tasks no training mix ever saw, against the full model and the
# baselines with adapters of their own, at the same executed layers (21 of 30):
#   full, full+lora, first:max21 (routers alone), first+lora:max21,
#   uls:9, bi:9, uls:9+lora, bi:9+lora.
# llm_foundry_mc leaves out commonsense_qa and siqa (t0_mix trains on those
# datasets' templates). Greedy; the first LIMIT examples of each task.
#
# Usage: benchmarks/eval-distilled-set.sh [RUN_DIR] [OUT_DIR] [LIMIT]
#   RUN_DIR (default runs/distilled): the training outputs; OUT_DIR (default
#   benchmarks/results/distilled-heldout); LIMIT (default 100). Rerunning resumes.
# Then: the budget figure, FiRST + adapter at 30..18 layers beside uls:k with
# the uls adapter, on two tasks (OUT_DIR-budgets).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/distilled}"
OUT="${2:-benchmarks/results/distilled-heldout}"
LIMIT="${3:-100}"
FIRST=(node packages/cli/dist/main.js)
ROUTERS=packages/core/shipped/smollm2-135m-instruct-mix-routers-lora
MC=arc_easy,arc_challenge,piqa,boolq,copa,openbook_qa,winogrande
TASKS="self_instruct_eval,tatoeba_laser,nq_openbook_short,triviaqa_sm_sub,lambada_openai"
for set in ${MC//,/ }; do TASKS="$TASKS,llm_foundry_mc:$set"; done
"${FIRST[@]}" eval --compare --model smollm2-135m-instruct --task "$TASKS" \
  --routers "$ROUTERS" --lora "$RUN/first-max21/lora" --max-layers 21 \
  --baselines uls,bi --baseline-lora "uls:9=$RUN/uls9/lora,bi:9=$RUN/bi9/lora" \
  --limit "$LIMIT" --threads 2 --out "$OUT"
"${FIRST[@]}" eval --compare --model smollm2-135m-instruct --task triviaqa_sm_sub,tatoeba_laser \
  --routers "$ROUTERS" --lora "$RUN/first-max21/lora" --budgets 27,24,21,18 \
  --baselines uls --baseline-lora "uls=$RUN/uls9/lora" \
  --limit "$LIMIT" --threads 2 --out "$OUT-budgets"
