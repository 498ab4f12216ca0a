// The FiRST trade-off: full, full+lora, first, first+lora, uls:k, uls:k+lora
// (k = the routers' skipped layers with the adapter) in one process,
// configurations alternating rep by rep on the same raw-text prompts, at 1
// and 2 threads; ms per decoded token (medians) and speed against the full
// model of the same run. Writes benchmarks/results/tradeoff-*.json.
//
//   node benchmarks/dist/tradeoff.js [--model M] [--routers DIR] [--lora DIR] [--threads 1,2]
//        [--reps 10] [--gen-tokens 96] [--prompt-tokens 64] [--max-layers N] [--out benchmarks/results]
import { existsSync } from "node:fs";
import { join } from "node:path";
import { shippedSetFor } from "@first/core";
import { runTradeoffBench, tradeoffTable } from "@first/bench";
import { native } from "./addon-decode.js";
import { fail, intListOption, intOption, parseOptions } from "./cli.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { DEFAULT_RESULTS_DIR, writeResults } from "./results.js";

const USAGE = `usage: node benchmarks/dist/tradeoff.js [--model M] [--routers DIR] [--lora DIR] [--threads 1,2]
       [--reps 10] [--gen-tokens 96] [--prompt-tokens 64] [--max-layers N] [--out benchmarks/results]
Defaults: the FiRST set shipped for the model (its routers and their adapter).`;
const args = parseOptions(
  {
    model: { type: "string" },
    routers: { type: "string" },
    lora: { type: "string" },
    threads: { type: "string" },
    reps: { type: "string" },
    "gen-tokens": { type: "string" },
    "prompt-tokens": { type: "string" },
    "max-layers": { type: "string" },
    out: { type: "string" },
  },
  USAGE,
);
const modelPath = await benchmarkModel(args.model);
const shipped = args.routers === undefined || args.lora === undefined ? await shippedSetFor(modelPath) : null;
const routersDir = args.routers ?? shipped?.routersDir;
const loraDir = args.lora ?? (args.routers === undefined ? shipped?.loraDir : undefined);
if (!routersDir) fail("no FiRST set ships for this model: give --routers DIR");
if (!loraDir || !existsSync(join(loraDir, "adapter_config.json"))) fail("no adapter: give --lora DIR");
const threads = intListOption("threads", args.threads, [1, 2]);
const result = await runTradeoffBench({
  modelPath,
  routersDir,
  loraDir,
  threads,
  reps: intOption("reps", args.reps, 10),
  genTokens: intOption("gen-tokens", args["gen-tokens"], 96, 2),
  promptTokens: intOption("prompt-tokens", args["prompt-tokens"], 64),
  layerBudget: args["max-layers"] === undefined ? undefined : intOption("max-layers", args["max-layers"], 0),
  onProgress: (m) => process.stderr.write(`${m}\n`),
});
console.log(tradeoffTable(result));
if (result.droppedPrompts.length > 0)
  console.log(`prompts ${result.droppedPrompts.join(", ")} left out: a configuration ended them at its first token`);
for (const o of result.adapterOverhead)
  console.log(
    `adapter cost at ${o.threads} thread(s), ${o.pair}: decode x${o.decode.toFixed(3)}, prefill x${o.prefill.toFixed(3)}` +
      (o.sameLayers ? "" : " (not at equal layers: the adapter moves the routers' decisions)"),
  );
const paths = writeResults(args.out ?? DEFAULT_RESULTS_DIR, "tradeoff", {
  benchmark: "FiRST trade-off: decode ms/token of full, routers, uls:k, each with and without the adapter",
  date: new Date().toISOString(),
  machine: describeMachine(),
  kernels: native().kernels,
  model: modelPath,
  routers: routersDir,
  lora: loraDir,
  measuredWith: "@first/core generate() through measureRep (wall clock, first to last token); one prompt per rep, configurations alternating",
  ...result,
});
console.log(`\nwrote ${paths.join(", ")}`);
