// Prefill and decode speed of our engine against llama.cpp on the same GGUF
// file, the same prompt token ids and the same thread counts.
//
//   pnpm bench:speed [--model M] [--reps N] [--threads 1,2] [--prompt-tokens 512]
//                    [--gen-tokens 128] [--out benchmarks/results] [--data-dir D]
import { statSync } from "node:fs";
import { basename } from "node:path";
import { VERSION } from "@first/core";
import { fail, intListOption, intOption, parseOptions } from "./cli.js";
import { FirstBench, type FirstRep } from "./first-engine.js";
import { LlamaCppBench, type LlamaCppContext } from "./llama-cpp.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { promptText } from "./prompt-text.js";
import { tokensPerSecond, type RepTiming } from "./rep.js";
import { DEFAULT_RESULTS_DIR, table, writeResults } from "./results.js";
import { round, roundSummary, summarize, type Summary } from "./stats.js";

const USAGE = `usage: pnpm bench:speed [--model M] [--reps 5] [--threads 1,2] [--prompt-tokens 512] [--gen-tokens 128]
                        [--out benchmarks/results] [--data-dir shared/data]`;

const args = parseOptions(
  {
    model: { type: "string" },
    reps: { type: "string" },
    threads: { type: "string" },
    "prompt-tokens": { type: "string" },
    "gen-tokens": { type: "string" },
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

type EngineName = "first" | "first (engine-reported)" | "llama.cpp";

interface Series {
  engine: EngineName;
  threads: number;
  prefillTokensPerSecond: Summary;
  decodeTokensPerSecond: Summary;
  prefillMs: Summary;
  decodeMs: Summary;
  decodeSteps: number;
}

function series(engine: EngineName, threads: number, timings: RepTiming[]): Series {
  return {
    engine,
    threads,
    prefillTokensPerSecond: summarize(timings.map((t) => tokensPerSecond(promptTokens, t.prefillMs))),
    decodeTokensPerSecond: summarize(timings.map((t) => tokensPerSecond(t.decodeSteps, t.decodeMs))),
    prefillMs: summarize(timings.map((t) => t.prefillMs)),
    decodeMs: summarize(timings.map((t) => t.decodeMs)),
    decodeSteps: timings[0].decodeSteps,
  };
}

/** Index of the first place two token lists differ (their common length when one is a prefix of the other). */
function agreement(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

async function main(): Promise<void> {
  const modelPath = await benchmarkModel(args.model);
  const machine = describeMachine();
  const contextLength = Math.ceil((promptTokens + genTokens + 1) / 256) * 256;
  const text = promptText(promptTokens * 12, args["data-dir"]);
  console.error(`model ${modelPath}\nprompt text: ${text.source}\ncontext ${contextLength} tokens, ${reps} reps after 1 warm-up`);

  const llama = await LlamaCppBench.open(modelPath);
  const llamaInfo = llama.info();

  // Prompt ids: our tokenizer's, checked against llama.cpp's on the same text.
  let prompt: number[] = [];
  let tokenizerAgreement = 0;
  const all: Series[] = [];
  const settings: Record<number, { first: unknown; llamaCpp: unknown }> = {};
  const greedyAgreement: Record<number, number> = {};
  let kernels = "";
  let decodeSteps = genTokens;

  for (const threads of threadCounts) {
    const ours = await FirstBench.open(modelPath, threads, contextLength);
    kernels = ours.settings.kernels;
    if (prompt.length === 0) {
      const ids = ours.tokenize(text.text);
      if (ids.length < promptTokens) fail(`the prompt text has only ${ids.length} tokens, fewer than --prompt-tokens ${promptTokens}`);
      prompt = ids.slice(0, promptTokens);
      const bos = ours.model.tokenizer.bosId;
      const body = bos !== undefined && prompt[0] === bos ? prompt.slice(1) : prompt;
      tokenizerAgreement = agreement(body, llama.tokenize(text.text).slice(0, body.length)) + (prompt.length - body.length);
    }
    const peer: LlamaCppContext = await llama.context(threads, contextLength, Math.max(512, promptTokens));
    settings[threads] = { first: ours.settings, llamaCpp: peer.settings };

    // Warm-up, which also fixes how many decode steps both engines run:
    // fewer than asked only when our greedy continuation hits end-of-text.
    const warm = await ours.rep(prompt, decodeSteps);
    if (warm.wall.decodeSteps < decodeSteps) {
      console.error(`note: generation reached end-of-text after ${warm.wall.decodeSteps} decode steps; both engines now run that many`);
      decodeSteps = warm.wall.decodeSteps;
    }
    const peerWarm = await peer.rep(prompt, decodeSteps);
    greedyAgreement[threads] = agreement(warm.wall.tokens, peerWarm.tokens.slice(0, warm.wall.tokens.length));

    const wall: RepTiming[] = [];
    const reported: RepTiming[] = [];
    const theirs: RepTiming[] = [];
    const runOurs = async () => {
      const r: FirstRep = await ours.rep(prompt, decodeSteps);
      if (r.wall.decodeSteps !== decodeSteps) throw new Error(`our engine ran ${r.wall.decodeSteps} decode steps, expected ${decodeSteps}`);
      wall.push(r.wall);
      reported.push(r.reported);
    };
    const runTheirs = async () => theirs.push(await peer.rep(prompt, decodeSteps));
    // Alternate which engine goes first, so slow drifts of the machine hit both alike.
    for (let i = 0; i < reps; i++) {
      if (i % 2 === 0) {
        await runOurs();
        await runTheirs();
      } else {
        await runTheirs();
        await runOurs();
      }
      console.error(`threads ${threads}: rep ${i + 1}/${reps} done`);
    }
    all.push(series("first", threads, wall), series("first (engine-reported)", threads, reported), series("llama.cpp", threads, theirs));
    await peer.dispose();
    await ours.close();
  }
  await llama.dispose();

  const best = (engine: EngineName, threads: number | null, key: "prefillTokensPerSecond" | "decodeTokensPerSecond") =>
    Math.max(...all.filter((s) => s.engine === engine && (threads === null || s.threads === threads)).map((s) => s[key].max));
  const ratio = (threads: number | null) => ({
    prefill: round(best("first", threads, "prefillTokensPerSecond") / best("llama.cpp", threads, "prefillTokensPerSecond")),
    decode: round(best("first", threads, "decodeTokensPerSecond") / best("llama.cpp", threads, "decodeTokensPerSecond")),
  });
  const ratios = {
    byThreads: Object.fromEntries(threadCounts.map((t) => [t, ratio(t)])),
    overall: ratio(null),
  };

  // The readable table, in the manner of llama-bench.
  const rows: string[][] = [];
  for (const [test, key] of [
    [`pp${promptTokens}`, "prefillTokensPerSecond"],
    [`tg${decodeSteps}`, "decodeTokensPerSecond"],
  ] as const) {
    for (const s of all) {
      const v = s[key];
      rows.push([s.engine, String(s.threads), test, v.median.toFixed(2), v.min.toFixed(2), v.max.toFixed(2)]);
    }
  }
  console.log(`\n${basename(modelPath)} on ${machine.cpuModel} (${machine.logicalCpus} CPUs, load ${machine.loadAverage1m}); kernels ${kernels}`);
  console.log(table(["engine", "threads", "test", "t/s median", "min", "max"], rows, 3));
  console.log(`\nratio first / llama.cpp, best t/s of ${reps} reps:`);
  for (const t of threadCounts) console.log(`  ${t} thread(s): prefill ${ratios.byThreads[t].prefill}x, decode ${ratios.byThreads[t].decode}x`);
  console.log(`  best over thread counts: prefill ${ratios.overall.prefill}x, decode ${ratios.overall.decode}x`);
  console.log(`prompt ids: our tokenizer's; llama.cpp's agree on the first ${tokenizerAgreement} of ${promptTokens}`);
  const agreeing = threadCounts.map((t) => `${greedyAgreement[t]} at ${t} thread(s)`).join(", ");
  console.log(`greedy tokens identical to llama.cpp's (warm-up rep): the first ${agreeing}, of ${decodeSteps + 1}`);

  const results = {
    benchmark: "speed",
    date: new Date().toISOString(),
    model: { path: modelPath, file: basename(modelPath), bytes: statSync(modelPath).size },
    machine,
    engines: {
      first: {
        version: VERSION,
        kernels,
        api: "public API of @first/core: loadModel(path, { threads, contextLength, maxSequences: 1 }) then generate({ tokens }, { temperature: 0, maxTokens })",
      },
      llamaCpp: {
        ...llamaInfo,
        api: "node-llama-cpp: LlamaContext (1 sequence, batchSize >= prompt) and LlamaContextSequence.evaluate(prompt, { temperature: 0 }); the KV cache is cleared before every rep",
      },
    },
    settings: {
      promptTokens,
      genTokens,
      decodeSteps,
      reps,
      warmupReps: 1,
      threads: threadCounts,
      contextLength,
      promptSource: text.source,
      promptIds: "tokenized by our tokenizer; the same ids are fed to both engines",
      tokenizerAgreement: { identicalLeadingIds: tokenizerAgreement, of: promptTokens },
      greedyAgreement: Object.fromEntries(threadCounts.map((t) => [t, { identicalLeadingTokens: greedyAgreement[t], of: decodeSteps + 1 }])),
      perThreads: settings,
      measurement:
        "Headline rows ('first', 'llama.cpp') are timed by the caller, alike for both engines: prefill = from the request to the first " +
        "sampled token (prompt evaluation plus one sampling); decode = from the first to the last sampled token, i.e. decodeSteps " +
        "single-token evaluations each followed by sampling. 'first (engine-reported)' is GenerationResult.timings, whose decode " +
        "time leaves out sampling and messages between the engine worker and the caller. Engines alternate rep by rep.",
    },
    results: all.map((s) => ({
      ...s,
      prefillTokensPerSecond: roundSummary(s.prefillTokensPerSecond, 2),
      decodeTokensPerSecond: roundSummary(s.decodeTokensPerSecond, 2),
      prefillMs: roundSummary(s.prefillMs, 2),
      decodeMs: roundSummary(s.decodeMs, 2),
    })),
    ratios: { ...ratios, definition: "best (max over reps) tokens/s of 'first' divided by best of 'llama.cpp'" },
  };
  const paths = writeResults(outDir, "speed", results);
  console.log(`\nwrote ${paths.join(" and ")}`);
}

main().catch((err: unknown) => fail((err as Error)?.stack ?? String(err)));
