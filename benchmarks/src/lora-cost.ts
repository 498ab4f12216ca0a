// What a LoRA adapter costs at inference, at equal layers: one model, two
// engines (one with the adapter), the same prompt prefilled and the same
// number of greedy steps decoded on each, alternating rep by rep, through
// the addon directly (no sampling, no worker), at each thread count. Reports
// the median decode step and prefill time per prompt token of each, and
// their ratio (the adapter's cost).
//
//   node benchmarks/dist/lora-cost.js [--model M] [--lora DIR] [--threads 1,2] [--reps 15]
//        [--tokens 64] [--prompt-tokens 64] [--out benchmarks/results]
import { performance } from "node:perf_hooks";
import { loraShapeFromConfig, readGguf, readPeftAdapter, shippedSetFor, Tokenizer } from "@first/core";
import { AddonDecoder, argmax, native } from "./addon-decode.js";
import { fail, intListOption, intOption, parseOptions } from "./cli.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { promptText } from "./prompt-text.js";
import { DEFAULT_RESULTS_DIR, table, writeResults } from "./results.js";
import { round, summarize } from "./stats.js";

const USAGE = `usage: node benchmarks/dist/lora-cost.js [--model M] [--lora DIR] [--threads 1,2] [--reps 15]
       [--tokens 64] [--prompt-tokens 64] [--out benchmarks/results]
Defaults: the adapter shipped for the model.`;
const args = parseOptions(
  {
    model: { type: "string" },
    lora: { type: "string" },
    threads: { type: "string" },
    reps: { type: "string" },
    tokens: { type: "string" },
    "prompt-tokens": { type: "string" },
    out: { type: "string" },
    "data-dir": { type: "string" },
  },
  USAGE,
);
const modelPath = await benchmarkModel(args.model);
const loraDir = args.lora ?? (await shippedSetFor(modelPath))?.loraDir;
if (!loraDir) fail("no adapter ships for this model: give --lora DIR");
const threadCounts = intListOption("threads", args.threads, [1, 2]);
const reps = intOption("reps", args.reps, 15);
const nTokens = intOption("tokens", args.tokens, 64);
const promptTokens = intOption("prompt-tokens", args["prompt-tokens"], 64);

const { Model, Engine } = native();
const model = new Model(modelPath);
const config = model.config();
const adapter = readPeftAdapter(loraDir, loraShapeFromConfig(config));
const tokenizer = Tokenizer.fromGgufMetadata(readGguf(modelPath).metadata);
const ids = tokenizer.encode(promptText(promptTokens * 12, args["data-dir"]).text, { addSpecial: true, parseSpecial: false });
if (ids.length < promptTokens) fail(`the prompt text has only ${ids.length} tokens`);
const prompt = Int32Array.from(ids.slice(0, promptTokens));
const contextLength = Math.ceil((promptTokens + nTokens + 1) / 256) * 256;

interface Row {
  threads: number;
  decodeMs: { base: number; lora: number };
  prefillMsPerToken: { base: number; lora: number };
  decodeCost: number;
  prefillCost: number;
}
const rows: Row[] = [];
for (const threads of threadCounts) {
  const engines = {
    base: new Engine(model, { threads, contextLength, maxSequences: 1 }),
    lora: new Engine(model, { threads, contextLength, maxSequences: 1 }),
  };
  for (const p of adapter.pairs) engines.lora.setLora(p.layer, p.module, p.a, p.b, adapter.scale);
  const decode = { base: [] as number[], lora: [] as number[] };
  const prefill = { base: [] as number[], lora: [] as number[] };
  const once = (name: "base" | "lora", record: boolean) => {
    const engine = engines[name];
    const decoder = new AddonDecoder(engine, config.nLayers, config.vocabSize);
    const seq = engine.createSequence();
    const t0 = performance.now();
    let token = argmax(decoder.step(seq, prompt));
    const t1 = performance.now();
    for (let i = 0; i < nTokens; i++) token = argmax(decoder.step(seq, Int32Array.of(token)));
    const t2 = performance.now();
    engine.freeSequence(seq);
    if (!record) return;
    prefill[name].push((t1 - t0) / prompt.length);
    decode[name].push((t2 - t1) / nTokens);
  };
  once("base", false);
  once("lora", false);
  for (let rep = 0; rep < reps; rep++) {
    for (const name of rep % 2 === 0 ? (["base", "lora"] as const) : (["lora", "base"] as const)) once(name, true);
    process.stderr.write(`threads ${threads}: rep ${rep + 1}/${reps}\r`);
  }
  process.stderr.write("\n");
  const med = (v: number[]) => summarize(v).median;
  rows.push({
    threads,
    decodeMs: { base: round(med(decode.base), 4), lora: round(med(decode.lora), 4) },
    prefillMsPerToken: { base: round(med(prefill.base), 4), lora: round(med(prefill.lora), 4) },
    decodeCost: round(med(decode.lora) / med(decode.base), 3),
    prefillCost: round(med(prefill.lora) / med(prefill.base), 3),
  });
}

console.log(
  table(
    ["threads", "decode ms (base)", "decode ms (lora)", "decode cost", "prefill ms/token (base)", "prefill ms/token (lora)", "prefill cost"],
    rows.map((r) => [
      String(r.threads),
      r.decodeMs.base.toFixed(3),
      r.decodeMs.lora.toFixed(3),
      `x${r.decodeCost.toFixed(3)}`,
      r.prefillMsPerToken.base.toFixed(4),
      r.prefillMsPerToken.lora.toFixed(4),
      `x${r.prefillCost.toFixed(3)}`,
    ]),
    0,
  ),
);
const paths = writeResults(args.out ?? DEFAULT_RESULTS_DIR, "lora-cost", {
  benchmark: "LoRA adapter cost at equal layers: decode step and prefill with / without, addon level, alternating",
  date: new Date().toISOString(),
  machine: describeMachine(),
  kernels: native().kernels,
  model: modelPath,
  lora: loraDir,
  rank: adapter.rank,
  targets: [...new Set(adapter.pairs.map((p) => p.module))],
  reps,
  decodeTokens: nTokens,
  promptTokens,
  rows,
});
console.log(`\nwrote ${paths.join(", ")}`);
