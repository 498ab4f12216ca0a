#!/usr/bin/env bash
# The held-out table of docs/router-training.md ("The distilled set at 21
# layers"): the distilled adapter of train-distilled-set.sh with the shipped
# routers at a budget of 21 layers, against the full model, the adapter on all
# layers, the routers alone, uls:9, and uls:9 and bi:9 with adapters of their
# own (same data, steps, rank and targets), on the eval-only tasks. The first 100
# examples of the short tasks and of each llm_foundry_mc set (without CSQA and
# SIQA, which t0_mix trains on), the first 50 of nq_openbook_short and
# self_instruct_eval (long prompts or long answers: 2 cores). Greedy, resumable.
#
# Usage: benchmarks/eval-distilled-heldout.sh [RUN_DIR] [OUT_PREFIX]
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-runs/distilled}"
OUT="${2:-runs/heldout}"
MC=arc_easy,arc_challenge,piqa,boolq,copa,openbook_qa,winogrande
A="tatoeba_laser,triviaqa_sm_sub,lambada_openai"
for s in ${MC//,/ }; do A="$A,llm_foundry_mc:$s"; done
COMMON=(--model smollm2-135m-instruct --routers packages/core/shipped/smollm2-135m-instruct-mix-routers-lora
  --lora "$RUN/first-max21/lora" --max-layers 21 --baselines uls --threads 2
  --baseline-lora "uls:9=$RUN/uls9/lora,bi:9=$RUN/bi9/lora")
node packages/cli/dist/main.js eval --compare --task "$A" --limit 100 --out "$OUT-a" "${COMMON[@]}"
node packages/cli/dist/main.js eval --compare --task nq_openbook_short,self_instruct_eval --limit 50 --out "$OUT-b" "${COMMON[@]}"
