#!/usr/bin/env bash
# The shipped FiRST set (routers at their threshold with their adapter) on the
# eval-only tasks no training saw, against the full model, the adapter on all
# layers, the routers alone and uls:k at FiRST's executed layers: the same
# tasks and example counts as eval-distilled-heldout.sh (the first 100 of the
# short tasks and of each llm_foundry_mc set without CSQA and SIQA, the first
# 50 of nq_openbook_short and self_instruct_eval). Greedy, resumable.
#
# Usage: benchmarks/eval-shipped-heldout.sh [OUT_PREFIX] [BASELINE_LORA]
#   OUT_PREFIX     default runs/shipped-heldout (folders OUT_PREFIX-a and -b)
#   BASELINE_LORA  e.g. uls=runs/mix-baselines/uls6/lora,bi=runs/mix-baselines/bi6/lora
#                  (train-mix-baselines.sh): adds uls:k+lora (and bi:k with bi:k+lora),
#                  each baseline at FiRST's layers with an adapter of its own
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-runs/shipped-heldout}"
SHIP=packages/core/shipped/smollm2-135m-instruct-mix-routers-lora
MC=arc_easy,arc_challenge,piqa,boolq,copa,openbook_qa,winogrande
A="tatoeba_laser,triviaqa_sm_sub,lambada_openai"
for s in ${MC//,/ }; do A="$A,llm_foundry_mc:$s"; done
# uls always; every family given an adapter too (bi=DIR adds bi:k beside bi:k+lora).
BASELINES=uls
IFS=, read -ra PAIRS <<< "${2:-}"
for p in "${PAIRS[@]}"; do fam="${p%%=*}"; [[ "$fam" == uls || "$fam" == *:* ]] || BASELINES="$BASELINES,$fam"; done
COMMON=(--model smollm2-135m-instruct --routers "$SHIP" --lora "$SHIP/lora" --baselines "$BASELINES" --threads 2)
if [ -n "${2:-}" ]; then COMMON+=(--baseline-lora "$2"); fi
node packages/cli/dist/main.js eval --compare --task "$A" --limit 100 --out "$OUT-a" "${COMMON[@]}"
node packages/cli/dist/main.js eval --compare --task nq_openbook_short,self_instruct_eval --limit 50 --out "$OUT-b" "${COMMON[@]}"
