// Prefill and decode speed of our engine against llama.cpp on the same GGUF
// file, the same prompt token ids and the same thread counts, with every
// kernel set this CPU runs and the machine's read bandwidth measured in the
// same run (the measurement itself is @first/bench's, as for `first bench`).
//
//   pnpm bench:speed [--model M] [--reps N] [--threads 1,2] [--prompt-tokens 512]
//                    [--gen-tokens 128] [--kernels avx512,avx2] [--name speed]
//                    [--out benchmarks/results] [--data-dir D]
import { statSync } from "node:fs";
import { basename } from "node:path";
import { runSpeedBench, speedTable, type SpeedRow } from "@first/bench";
import { nativeAddon, VERSION } from "@first/core";
import { fail, intListOption, intOption, parseOptions } from "./cli.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { DEFAULT_RESULTS_DIR, writeResults } from "./results.js";

const USAGE = `usage: pnpm bench:speed [--model M] [--reps 5] [--threads 1,2] [--prompt-tokens 512] [--gen-tokens 128]
                        [--kernels avx512,avx2] [--name speed] [--out benchmarks/results] [--data-dir shared/data]`;

const args = parseOptions(
  {
    model: { type: "string" },
    reps: { type: "string" },
    threads: { type: "string" },
    "prompt-tokens": { type: "string" },
    "gen-tokens": { type: "string" },
    kernels: { type: "string" },
    name: { type: "string" },
    out: { type: "string" },
    "data-dir": { type: "string" },
  },
  USAGE,
);

const reps = intOption("reps", args.reps, 5);
const threadCounts = intListOption("threads", args.threads, [1, 2]);
const promptTokens = intOption("prompt-tokens", args["prompt-tokens"], 512);
const genTokens = intOption("gen-tokens", args["gen-tokens"], 128);
const outDir = args.out ?? DEFAULT_RESULTS_DIR;
const name = args.name ?? "speed";
if (!/^[a-z0-9-]+$/.test(name)) fail(`--name must be lower-case letters, digits and dashes, got "${name}"`);
// Default: every vector kernel set the CPU has (scalar is far slower and says nothing here).
const available = nativeAddon().kernelSets();
const kernels = args.kernels !== undefined ? args.kernels.split(",").map((s) => s.trim()) : available.filter((k) => k !== "scalar");
for (const k of kernels) if (!available.includes(k)) fail(`--kernels: this CPU cannot run "${k}" (it has ${available.join(", ")})`);

async function main(): Promise<void> {
  const modelPath = await benchmarkModel(args.model);
  const machine = describeMachine();
  const result = await runSpeedBench({
    modelPath,
    threads: threadCounts,
    promptTokens,
    genTokens,
    reps,
    kernels: kernels.length > 0 ? kernels : ["scalar"],
    peer: true,
    dataDir: args["data-dir"],
    onProgress: (m) => console.error(m),
  });
  if (!result.peer || !("greedyAgreement" in result.peer)) fail(`llama.cpp is needed here: ${result.notes.join("; ")}`);
  for (const note of result.notes) console.error(`note: ${note}`);

  // best (max over reps) tokens/s of ours (per kernel set) over llama.cpp's best, per thread count and overall.
  const best = (pred: (r: SpeedRow) => boolean, test: "pp" | "tg") =>
    Math.max(...result.rows.filter((r) => pred(r) && r.test.startsWith(test)).map((r) => r.tokensPerSecond.max));
  const ratio = (k: string, threads: number | null) => {
    const at = (r: SpeedRow) => threads === null || r.threads === threads;
    const ours = (r: SpeedRow) => r.engine === "first" && r.kernels === k && at(r);
    const theirs = (r: SpeedRow) => r.engine === "llama.cpp" && at(r);
    return {
      prefill: Math.round((best(ours, "pp") / best(theirs, "pp")) * 1000) / 1000,
      decode: Math.round((best(ours, "tg") / best(theirs, "tg")) * 1000) / 1000,
    };
  };
  const ratios = Object.fromEntries(
    result.rows
      .filter((r) => r.engine === "first")
      .map((r) => r.kernels!)
      .filter((k, i, all) => all.indexOf(k) === i)
      .map((k) => [k, { byThreads: Object.fromEntries(threadCounts.map((t) => [t, ratio(k, t)])), overall: ratio(k, null) }]),
  );

  console.log(`\n${basename(modelPath)} on ${machine.cpuModel} (${machine.logicalCpus} CPUs, flags ${machine.cpuFlags.join(" ")}, load ${machine.loadAverage1m})`);
  console.log(speedTable(result));
  console.log(`ratio first / llama.cpp, best t/s of ${reps} reps:`);
  for (const [k, r] of Object.entries(ratios)) {
    for (const t of threadCounts) console.log(`  ${k}, ${t} thread(s): prefill ${r.byThreads[t].prefill}x, decode ${r.byThreads[t].decode}x`);
    console.log(`  ${k}, best over thread counts: prefill ${r.overall.prefill}x, decode ${r.overall.decode}x`);
  }
  const agree = threadCounts.map((t) => `${result.peer && "greedyAgreement" in result.peer ? result.peer.greedyAgreement[t] : "?"} at ${t} thread(s)`);
  console.log(`greedy tokens identical to llama.cpp's (warm-up rep, best kernel set): the first ${agree.join(", ")}, of ${result.decodeSteps + 1}`);

  const paths = writeResults(outDir, name, {
    benchmark: "speed",
    date: new Date().toISOString(),
    model: { path: modelPath, file: basename(modelPath), bytes: statSync(modelPath).size },
    machine,
    engines: { first: { version: VERSION, kernels }, llamaCpp: result.peer },
    settings: {
      promptTokens,
      genTokens,
      decodeSteps: result.decodeSteps,
      reps,
      warmupReps: 1,
      threads: threadCounts,
      promptSource: result.promptSource,
      measurement:
        "Both engines timed by the caller alike: prefill = from the request to the first sampled token; decode = from the first to " +
        "the last sampled token (decodeSteps single-token evaluations, each followed by sampling). In each rep every kernel set of ours " +
        "runs once and llama.cpp once, the order alternating rep by rep. bandwidthShare = (weight + KV bytes a step reads) / (read " +
        "bandwidth at that thread count, measured in this run) / (median step time).",
    },
    rows: result.rows,
    bandwidth: result.bandwidth,
    ratios: { ...ratios, definition: "best (max over reps) tokens/s of ours with that kernel set divided by the best of llama.cpp" },
  });
  console.log(`\nwrote ${paths.join(" and ")}`);
}

main().catch((err: unknown) => fail((err as Error)?.stack ?? String(err)));
