// A short, plain run of the engine for profilers (perf, valgrind): prefill
// a prompt, then decode greedily, driving the addon directly.
//
//   perf record -e cpu-clock -g -- node benchmarks/dist/profile-target.js --phase decode --prompt-tokens 16 --tokens 256
//   valgrind --tool=callgrind node benchmarks/dist/profile-target.js --prompt-tokens 32 --tokens 16
// --lora DIR runs with a PEFT adapter on every layer (unmerged, as the engine
// applies it), to see what the adapter's work costs.
import { performance } from "node:perf_hooks";
import { AddonDecoder, argmax, openAddon } from "./addon-decode.js";
import { fail, intOption, parseOptions } from "./cli.js";
import { loraShapeFromConfig, readPeftAdapter } from "@first/core";
import { benchmarkModel } from "./model-path.js";
import { promptText } from "./prompt-text.js";

const USAGE =
  "usage: node benchmarks/dist/profile-target.js [--model M] [--threads 1] [--prompt-tokens 128] [--tokens 128] [--phase prefill|decode|both] [--lora DIR]";

const args = parseOptions(
  {
    model: { type: "string" },
    threads: { type: "string" },
    "prompt-tokens": { type: "string" },
    tokens: { type: "string" },
    phase: { type: "string" },
    "data-dir": { type: "string" },
    lora: { type: "string" },
  },
  USAGE,
);
const threads = intOption("threads", args.threads, 1);
const promptTokens = intOption("prompt-tokens", args["prompt-tokens"], 128);
const nTokens = intOption("tokens", args.tokens, 128);
const phase = args.phase ?? "both";
if (!["prefill", "decode", "both"].includes(phase)) fail(`--phase must be prefill, decode or both, got "${phase}"`);

async function main(): Promise<void> {
  const modelPath = await benchmarkModel(args.model);
  const contextLength = Math.ceil((promptTokens + nTokens + 1) / 256) * 256;
  const { engine, config, tokenizer } = openAddon(modelPath, threads, contextLength, 1);
  if (args.lora) {
    const adapter = readPeftAdapter(args.lora, loraShapeFromConfig(config));
    for (const p of adapter.pairs) engine.setLora(p.layer, p.module, p.a, p.b, adapter.scale);
  }
  const decoder = new AddonDecoder(engine, config.nLayers, config.vocabSize);
  const ids = tokenizer.encode(promptText(promptTokens * 12, args["data-dir"]).text, { addSpecial: true, parseSpecial: false });
  if (ids.length < promptTokens) fail(`the prompt text has only ${ids.length} tokens`);
  const prompt = Int32Array.from(ids.slice(0, promptTokens));

  // The prefill always runs, since decoding needs the prompt's KV cache; for a
  // decode profile keep --prompt-tokens small so it hardly shows.
  const seq = engine.createSequence();
  const t0 = performance.now();
  let token = argmax(decoder.step(seq, prompt));
  const prefillMs = performance.now() - t0;
  if (phase !== "decode") console.log(`prefill ${promptTokens} tokens: ${prefillMs.toFixed(1)} ms (${((promptTokens / prefillMs) * 1000).toFixed(1)} t/s)`);
  if (phase === "prefill") return;
  const t1 = performance.now();
  for (let i = 0; i < nTokens; i++) token = argmax(decoder.step(seq, Int32Array.of(token)));
  const decodeMs = performance.now() - t1;
  console.log(`decode ${nTokens} tokens: ${decodeMs.toFixed(1)} ms (${((nTokens / decodeMs) * 1000).toFixed(1)} t/s)`);
}

main().catch((err: unknown) => fail((err as Error)?.stack ?? String(err)));
