// What a LoRA adapter costs at inference, at equal layers: one engine that
// holds the adapter, two sequences, one run with it and one on the base model
// (each step names its adapter), the same prompt prefilled on each and greedy
// steps decoded on both in turn, one step each, through the addon directly
// (no sampling, no worker), at each thread count. Reports the median decode
// step and prefill time per prompt token of each side, and their ratio (the
// adapter's cost). Sharing one engine keeps weights, KV cache and memory
// layout the same on both sides; two engines measured differently by their
// order of creation alone.
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
  // One engine holding the adapter; each step names it (adapter 1) or the base
  // model (adapter 0), so both sides share weights, KV cache and memory layout.
  const engine = new Engine(model, { threads, contextLength, maxSequences: 2 });
  for (const p of adapter.pairs) engine.setLora(p.layer, p.module, p.a, p.b, adapter.scale);
  const decoder = new AddonDecoder(engine, config.nLayers, config.vocabSize);
  const adapterOf = { base: 0, lora: 1 } as const;
  const decode = { base: [] as number[], lora: [] as number[] };
  const prefill = { base: [] as number[], lora: [] as number[] };
  const once = (record: boolean, first: "base" | "lora") => {
    const order = first === "base" ? (["base", "lora"] as const) : (["lora", "base"] as const);
    const seqs = { base: engine.createSequence(), lora: engine.createSequence() };
    const token = { base: 0, lora: 0 };
    for (const name of order) {
      const t0 = performance.now();
      token[name] = argmax(decoder.step(seqs[name], prompt, adapterOf[name]));
      if (record) prefill[name].push((performance.now() - t0) / prompt.length);
    }
    // Decode steps alternate one by one, so slow drifts of the machine fall on both sides alike.
    for (let i = 0; i < nTokens; i++) {
      for (const name of i % 2 === 0 ? order : ([order[1], order[0]] as const)) {
        const t0 = performance.now();
        token[name] = argmax(decoder.step(seqs[name], Int32Array.of(token[name]), adapterOf[name]));
        if (record) decode[name].push(performance.now() - t0);
      }
    }
    engine.freeSequence(seqs.base);
    engine.freeSequence(seqs.lora);
  };
  once(false, "base");
  for (let rep = 0; rep < reps; rep++) {
    once(true, rep % 2 === 0 ? "base" : "lora");
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
