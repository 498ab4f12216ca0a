// Decode speed and KV memory per sequence against the number of skipped
// layers: uls:k for k = 0, 3, 6, 9, 12 (of 30 on the default model), all
// through the same engine path. Decode time should fall close to linearly
// with the executed layers, and KV bytes exactly so.
//
//   node benchmarks/dist/skip.js [--model M] [--reps 5] [--threads 2] [--skips 0,3,6,9,12]
//                                [--prompt-tokens 128] [--gen-tokens 128] [--out benchmarks/results]
import { loadModel, type LayerPlanSpec } from "@first/core";
import { measureRep } from "@first/bench";
import { intListOption, intOption, parseOptions } from "./cli.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { promptText } from "./prompt-text.js";
import { DEFAULT_RESULTS_DIR, table, writeResults } from "./results.js";
import { round, roundSummary, summarize, type Summary } from "./stats.js";

const USAGE = `usage: node benchmarks/dist/skip.js [--model M] [--reps 5] [--threads 2] [--skips 0,3,6,9,12]
                                   [--prompt-tokens 128] [--gen-tokens 128] [--out benchmarks/results]`;
const args = parseOptions(
  {
    model: { type: "string" },
    reps: { type: "string" },
    threads: { type: "string" },
    skips: { type: "string" },
    "prompt-tokens": { type: "string" },
    "gen-tokens": { type: "string" },
    out: { type: "string" },
  },
  USAGE,
);
const reps = intOption("reps", args.reps, 5);
const threads = intOption("threads", args.threads, 2);
const skips = intListOption("skips", args.skips, [0, 3, 6, 9, 12]).map((k) => k); // validated >= 1 below
const promptTokens = intOption("prompt-tokens", args["prompt-tokens"], 128);
const genTokens = intOption("gen-tokens", args["gen-tokens"], 128);

const modelPath = await benchmarkModel(args.model);
const model = await loadModel(modelPath, { threads, maxSequences: 1, pull: false });
const prompt = model.tokenizer.encode(promptText(promptTokens * 8).text, { addSpecial: true, parseSpecial: false }).slice(0, promptTokens);
const plans = new Map<number, LayerPlanSpec>();
for (const k of skips) plans.set(k, k === 0 ? { kind: "full" } : await model.planFor(`uls:${k}`));

interface Row {
  policy: string;
  skipped: number;
  executedLayers: number;
  decodeTokensPerSecond: Summary;
  kvBytesPerSequence: number;
}
const samples = new Map<number, number[]>(skips.map((k) => [k, []]));
const kv = new Map<number, number>();
const executed = new Map<number, number>();
for (const k of skips) await measureRep(model, prompt, 8, { plan: plans.get(k) }); // warm-up
for (let rep = 0; rep < reps; rep++) {
  // Alternate the order so drift in machine load spreads over all settings.
  const order = rep % 2 === 0 ? skips : [...skips].reverse();
  for (const k of order) {
    const r = await measureRep(model, prompt, genTokens, { plan: plans.get(k) });
    samples.get(k)!.push((r.wall.decodeSteps / r.wall.decodeMs) * 1000);
    kv.set(k, r.kvBytes);
    executed.set(k, r.executedLayers);
  }
  process.stderr.write(`rep ${rep + 1}/${reps} done\n`);
}
await model.close();

const rows: Row[] = skips.map((k) => ({
  policy: k === 0 ? "full" : `uls:${k}`,
  skipped: k,
  executedLayers: executed.get(k)!,
  decodeTokensPerSecond: roundSummary(summarize(samples.get(k)!)),
  kvBytesPerSequence: kv.get(k)!,
}));
const full = rows.find((r) => r.skipped === 0);
const speedups = rows.map((r) => ({
  policy: r.policy,
  executedLayers: r.executedLayers,
  decodeSpeedup: full ? round(r.decodeTokensPerSecond.median / full.decodeTokensPerSecond.median) : null,
  idealSpeedup: full ? round(full.executedLayers / r.executedLayers) : null,
  kvRatio: full ? round(r.kvBytesPerSequence / full.kvBytesPerSequence) : null,
}));
console.log(
  table(
    ["policy", "executed", "decode t/s (median)", "min", "max", "speed-up", "ideal", "KV bytes/seq", "KV ratio"],
    rows.map((r, i) => [
      r.policy,
      String(r.executedLayers),
      r.decodeTokensPerSecond.median.toFixed(1),
      r.decodeTokensPerSecond.min.toFixed(1),
      r.decodeTokensPerSecond.max.toFixed(1),
      String(speedups[i].decodeSpeedup ?? "-"),
      String(speedups[i].idealSpeedup ?? "-"),
      String(r.kvBytesPerSequence),
      String(speedups[i].kvRatio ?? "-"),
    ]),
    1,
  ),
);
const paths = writeResults(args.out ?? DEFAULT_RESULTS_DIR, "skip", {
  benchmark: "decode speed and KV memory vs skipped layers (uls:k)",
  date: new Date().toISOString(),
  machine: describeMachine(),
  model: modelPath,
  threads,
  reps,
  promptTokens: prompt.length,
  genTokens,
  measuredWith: "@first/core generate() through @first/bench's measureRep (wall clock, first to last token)",
  rows,
  speedups,
});
console.log(`\nwrote ${paths.join(", ")}`);
