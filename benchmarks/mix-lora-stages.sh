# Sourced by train-mix-routers.sh and train-mix-baselines.sh: the shipped set's
# LoRA stages, run under whatever chooses the layers (the routers, or a fixed
# policy for a baseline's adapter), so both scripts train with the same data,
# steps, rank, targets, learning rates and seeds. Needs FIRST and MODEL.

# Runs a training stage unless its output exists; resumes it when it has a checkpoint.
stage() {
  local out="$1" done_file="$2"; shift 2
  [ -f "$done_file" ] && { echo "$out: done"; return; }
  if [ -f "$out/checkpoint/state.json" ]; then "${FIRST[@]}" train --out "$out" --resume
  else "${FIRST[@]}" train --out "$out" "$@"; fi
}

# mix_lora_stages DIR LAYER_FLAGS...: DIR/lora-stage, then DIR/lora-translation
# (the adapter to use), each with LAYER_FLAGS (e.g. --routers R, or --policy uls:6).
# LORA_TARGETS and LORA_RANK (default q,k,v,o,gate,up,down and 16, alpha twice
# the rank) try other adapters under the same recipe.
mix_lora_stages() {
  local dir="$1"; shift
  # Stage 2: LoRA on all seven projections under those layers (each sequence's
  # cross-entropy counts the same). Translation gets 700 examples (the other
  # tasks 400, 300, 200): with 400 the adapter kept summarization and QA but
  # lost translation chrF under skipping.
  stage "$dir/lora-stage" "$dir/lora-stage/lora/adapter_model.safetensors" \
    --model "$MODEL" --data mix --mix-per-task 400 --mix-counts translation=700,summarization=300,math=200 \
    --stage lora "$@" \
    --lora-rank "${LORA_RANK:-16}" --lora-alpha "$((2 * ${LORA_RANK:-16}))" --lora-targets "${LORA_TARGETS:-q,k,v,o,gate,up,down}" \
    --lora-lr 1e-3 --loss-weighting sequences \
    --steps 400 --batch 4 --max-seq-len 256 --warmup 0.05 --seed 0 --save-every 50 --eval-every 0
  # Stage 3: that adapter trained further, 100 steps at lr 3e-4, on translation
  # (320 examples, a new seed's subset) with a little summarization and QA (40
  # each) so that they are not forgotten: translation chrF under skipping was
  # still 6% below the full model on 500 eval examples after stage 2.
  stage "$dir/lora-translation" "$dir/lora-translation/lora/adapter_model.safetensors" \
    --model "$MODEL" --data mix --mix-per-task 40 --mix-counts translation=320,math=0 \
    --stage lora "$@" --init-lora "$dir/lora-stage/lora" \
    --lora-lr 3e-4 --loss-weighting sequences \
    --steps 100 --batch 4 --max-seq-len 256 --warmup 0.05 --seed 2 --save-every 25 --eval-every 0
}
