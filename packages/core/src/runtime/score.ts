// Log-likelihood scoring in the engine worker: the log-probability of each
// token of a given continuation after a prompt. The layers are decided from
// the prompt alone (as for generation: routers see only the prompt), then the
// continuation runs with those same layers and logits at every position.
import { performance } from "node:perf_hooks";
import type { NativeEngine } from "../native.js";
import { BatchRunner } from "./batch-runner.js";
import { driveLayers, engineStack } from "./layer-loop.js";
import { plannerFor, type LayerPlanSpec } from "./layer-plan.js";

export interface ScoreResult {
  /** log P(continuation[i] | prompt, continuation[0..i)), natural log, one per continuation token. */
  logprobs: number[];
  /** Every continuation token was the argmax of its distribution (greedy decoding would produce it). */
  greedyMatch: boolean;
  /** executed[l] is true when layer l ran (decided from the prompt). */
  executed: boolean[];
  /** Time to prefill the prompt and to score the continuation. */
  prefillMs: number;
  scoreMs: number;
  /** KV cache bytes the sequence held after the prompt. */
  kvBytes: number;
}

// Continuation tokens per engine step: bounds the all-position logits buffer
// (rows x vocab floats) for long texts.
const CHUNK_TOKENS = 256;

export function scoreContinuation(
  engine: NativeEngine,
  shape: { nLayers: number; dModel: number; vocabSize: number },
  prompt: number[],
  continuation: number[],
  plan: LayerPlanSpec,
): ScoreResult {
  const { nLayers, dModel, vocabSize } = shape;
  const planner = plannerFor(plan, nLayers);
  const logprobs: number[] = [];
  let greedyMatch = true;
  const take = (rows: Float32Array, row: number, target: number) => {
    const { logprob, isArgmax } = logSoftmaxAt(rows.subarray(row * vocabSize, (row + 1) * vocabSize), target);
    logprobs.push(logprob);
    if (!isArgmax) greedyMatch = false;
  };
  const seq = engine.createSequence();
  try {
    const t0 = performance.now();
    // The prompt goes through the same prefill as generation (routers, budgets and their probe pass).
    const runner = new BatchRunner(engine, nLayers, dModel, vocabSize);
    const pre = runner.prefill([{ seq, tokens: Int32Array.from(prompt), planner }]);
    const executed = pre.executed[0];
    const last = pre.logits;
    let buf = new Float32Array(vocabSize * Math.min(CHUNK_TOKENS, Math.max(1, continuation.length - 1)));
    const stack = engineStack(engine);
    const hidden = new Float32Array(dModel);
    const prefillMs = performance.now() - t0;
    const kv = engine.kvStats(seq);
    const t1 = performance.now();
    if (continuation.length > 0) take(last, 0, continuation[0]);
    // Feeding continuation[i] yields the distribution of continuation[i + 1];
    // the last token is never fed.
    for (let start = 0; start < continuation.length - 1; start += CHUNK_TOKENS) {
      const end = Math.min(start + CHUNK_TOKENS, continuation.length - 1);
      engine.beginBatch([{ seq, tokens: Int32Array.from(continuation.slice(start, end)) }]);
      driveLayers(stack, { rows: 1, layers: nLayers, gate: (l) => (executed[l] ? 1 : 0) }, hidden);
      if (buf.length < (end - start) * vocabSize) buf = new Float32Array((end - start) * vocabSize);
      const rows = engine.logits(false, buf);
      engine.commitBatch();
      for (let i = start; i < end; i++) take(rows, i - start, continuation[i + 1]);
    }
    return {
      logprobs,
      greedyMatch,
      executed,
      prefillMs,
      scoreMs: performance.now() - t1,
      kvBytes: (kv.sequenceBlocks ?? 0) * kv.blockBytes,
    };
  } finally {
    engine.freeSequence(seq);
  }
}

/** log softmax(row)[target], computed stably in double precision, and whether target is an argmax. */
export function logSoftmaxAt(row: Float32Array, target: number): { logprob: number; isArgmax: boolean } {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return { logprob: row[target] - max - Math.log(sum), isArgmax: row[target] >= max };
}
