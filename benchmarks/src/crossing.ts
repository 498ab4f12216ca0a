// The cost of crossing the Node-API boundary per decoded token.
//
// Decoding one token from JS takes 33 addon calls (beginBatch, one runLayer
// per layer, logits, commitBatch). This script times real greedy decode
// steps, then the same calls with no work behind them: runLayer with an empty
// entry list returns right after its argument checks, logits and commitBatch
// of an empty batch do nothing, and beginBatch of one token on a scratch
// sequence only embeds that token (so the estimate is, if anything, high).
//
//   node benchmarks/dist/crossing.js [--model M] [--threads 1] [--tokens 128] [--out benchmarks/results]
import { performance } from "node:perf_hooks";
import { basename } from "node:path";
import { loadModel } from "@first/core";
import { AddonDecoder, argmax, native, openAddon } from "./addon-decode.js";
import { fail, intOption, parseOptions } from "./cli.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { promptText } from "./prompt-text.js";
import { DEFAULT_RESULTS_DIR, table, writeResults } from "./results.js";
import { round, summarize, type Summary } from "./stats.js";

const USAGE = "usage: node benchmarks/dist/crossing.js [--model M] [--threads 1] [--tokens 128] [--prompt-tokens 64] [--out benchmarks/results]";
const BUDGET_PERCENT = 5;
const WARMUP_STEPS = 8;
/** No-op steps are timed in blocks of this many, so the clock's own cost stays out of the figures. */
const BLOCK = 200;
const NOOP_BLOCKS = 25;

const args = parseOptions(
  {
    model: { type: "string" },
    threads: { type: "string" },
    tokens: { type: "string" },
    "prompt-tokens": { type: "string" },
    out: { type: "string" },
    "data-dir": { type: "string" },
  },
  USAGE,
);
const threads = intOption("threads", args.threads, 1);
const nTokens = intOption("tokens", args.tokens, 128);
const promptTokens = intOption("prompt-tokens", args["prompt-tokens"], 64);
const outDir = args.out ?? DEFAULT_RESULTS_DIR;

/** Median and spread of per-item times (µs) over blocks of `perBlock` repetitions of `fn`. */
function timeBlocks(blocks: number, perBlock: number, fn: () => void, between?: () => void): Summary {
  const us: number[] = [];
  for (let b = 0; b < blocks; b++) {
    between?.();
    const t0 = performance.now();
    for (let i = 0; i < perBlock; i++) fn();
    us.push(((performance.now() - t0) * 1000) / perBlock);
  }
  return summarize(us);
}

const r = (s: Summary, digits = 3) => ({ median: round(s.median, digits), min: round(s.min, digits), max: round(s.max, digits) });

async function main(): Promise<void> {
  const modelPath = await benchmarkModel(args.model);
  const contextLength = Math.ceil((promptTokens + nTokens + WARMUP_STEPS + 1) / 256) * 256;
  const { engine, config, tokenizer } = openAddon(modelPath, threads, contextLength);
  const nLayers = config.nLayers;
  const decoder = new AddonDecoder(engine, nLayers, config.vocabSize);

  const ids = tokenizer.encode(promptText(promptTokens * 12, args["data-dir"]).text, { addSpecial: true, parseSpecial: false });
  if (ids.length < promptTokens) fail(`the prompt text has only ${ids.length} tokens`);
  const prompt = Int32Array.from(ids.slice(0, promptTokens));

  // Real decode: per-step wall time of the JS loop with every native call.
  const seq = engine.createSequence();
  let token = argmax(decoder.step(seq, prompt));
  const stepUs: number[] = [];
  const argmaxUs: number[] = [];
  for (let i = 0; i < WARMUP_STEPS + nTokens; i++) {
    const t0 = performance.now();
    const logits = decoder.step(seq, Int32Array.of(token));
    const t1 = performance.now();
    token = argmax(logits);
    const t2 = performance.now();
    if (i >= WARMUP_STEPS) {
      stepUs.push((t1 - t0) * 1000);
      argmaxUs.push((t2 - t1) * 1000);
    }
  }
  engine.freeSequence(seq);

  // The same calls with nothing behind them.
  const scratch = engine.createSequence();
  const logitsBuf = new Float32Array(config.vocabSize);
  const none = new Int32Array(1);
  const resetScratch = () => engine.truncateSequence(scratch, 0);
  const noopStep = () => {
    engine.beginBatch([{ seq: scratch, tokens: Int32Array.of(token) }]);
    for (let l = 0; l < nLayers; l++) engine.runLayer(l, none.subarray(0, 0));
    engine.commitBatch();
    engine.logits(true, logitsBuf); // the batch is committed: no rows, no work
  };
  if (BLOCK >= contextLength) throw new Error("the scratch sequence cannot hold a block of no-op steps");
  timeBlocks(2, BLOCK, noopStep, resetScratch); // warm-up
  const perToken = timeBlocks(NOOP_BLOCKS, BLOCK, noopStep, resetScratch);
  const perRunLayer = timeBlocks(NOOP_BLOCKS, BLOCK * nLayers, () => engine.runLayer(0, none.subarray(0, 0)));
  const perBeginCommit = timeBlocks(NOOP_BLOCKS, BLOCK, () => {
    engine.beginBatch([{ seq: scratch, tokens: Int32Array.of(token) }]);
    engine.commitBatch();
  }, resetScratch);
  engine.beginBatch([]);
  const perLogits = timeBlocks(NOOP_BLOCKS, BLOCK, () => engine.logits(true, logitsBuf));
  engine.commitBatch();
  engine.freeSequence(scratch);

  // For comparison: decode through the public API (engine worker, scheduler, sampler).
  const model = await loadModel(modelPath, { threads, contextLength, maxSequences: 1, pull: false });
  const gen = model.generate({ tokens: Array.from(prompt) }, { temperature: 0, maxTokens: nTokens + 1 });
  const publicResult = await gen.result;
  await model.close();
  const publicSteps = Math.round((publicResult.timings.decodeTokensPerSecond * publicResult.timings.decodeMs) / 1000);
  const publicUsPerToken = publicSteps > 0 ? (publicResult.timings.decodeMs * 1000) / publicSteps : 0;

  const step = summarize(stepUs);
  const callsPerToken = nLayers + 3;
  const percent = (perToken.median / step.median) * 100;
  const within = percent < BUDGET_PERCENT;

  const machine = describeMachine();
  console.log(`\n${basename(modelPath)}, ${threads} thread(s), ${nTokens} decoded tokens; kernels ${native().kernels}; load ${machine.loadAverage1m}`);
  console.log(
    table(
      ["measure", "median µs", "min µs", "max µs"],
      [
        ["decode step (all 33 calls, real work)", step],
        ["argmax over the vocabulary (JS)", summarize(argmaxUs)],
        [`no-op step (${callsPerToken} calls, no work)`, perToken],
        ["  runLayer, empty entries", perRunLayer],
        ["  beginBatch(1 token) + commitBatch", perBeginCommit],
        ["  logits, empty batch", perLogits],
      ].map(([name, s]) => [name as string, ...[(s as Summary).median, (s as Summary).min, (s as Summary).max].map((v) => v.toFixed(2))]),
      1,
    ),
  );
  console.log(
    `\ncrossing cost: ${perToken.median.toFixed(1)} µs per token = ${percent.toFixed(2)}% of the decode step ` +
      `(${(step.median / 1000).toFixed(2)} ms); budget ${BUDGET_PERCENT}%: ${within ? "within" : "EXCEEDED"}`,
  );
  console.log(`public generate() decode: ${(publicUsPerToken / 1000).toFixed(2)} ms per token (engine-reported, ${publicSteps} steps)`);

  const results = {
    benchmark: "crossing",
    date: new Date().toISOString(),
    model: { path: modelPath, file: basename(modelPath) },
    machine,
    settings: { threads, decodedTokens: nTokens, warmupSteps: WARMUP_STEPS, promptTokens, contextLength, kernels: native().kernels },
    method:
      "Decode steps drive the addon from JS: beginBatch, runLayer for each of the layers, logits, commitBatch. The crossing cost is " +
      "the time of the same calls with no work behind them (runLayer with an empty entry list, logits of a committed batch, " +
      "beginBatch of one token on a scratch sequence, which embeds that token), timed in blocks of " + BLOCK + " steps.",
    callsPerToken,
    decodeStepUs: r(step, 1),
    argmaxUs: r(summarize(argmaxUs), 1),
    crossingPerTokenUs: r(perToken),
    perCallUs: { runLayerEmpty: r(perRunLayer), beginBatchPlusCommit: r(perBeginCommit), logitsEmpty: r(perLogits) },
    crossingPercentOfDecode: round(percent, 3),
    budgetPercent: BUDGET_PERCENT,
    withinBudget: within,
    publicApiDecodeUsPerToken: round(publicUsPerToken, 1),
  };
  const paths = writeResults(outDir, "crossing", results);
  console.log(`wrote ${paths.join(" and ")}`);
}

main().catch((err: unknown) => fail((err as Error)?.stack ?? String(err)));
