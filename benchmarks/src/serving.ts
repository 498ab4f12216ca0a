// Serving under concurrency: N greedy streams started at once on one model,
// for N in 1, 4, 16, 64 (default), for the full model, the shipped routers and
// llama.cpp (node-llama-cpp, N parallel sequences in one context, same file
// and the same prompt token ids), configurations alternating rep by rep in
// one process. Per run: aggregate decode tokens/s (tokens after each stream's
// first, over the time from the first stream's first token to the last
// token), time to first token and inter-token latency p50/p99 over all
// streams. Then the long-prompt check: while running streams decode, a long
// prompt arrives; the running streams' inter-token latency p50/p99 from its
// arrival to its first token. Writes benchmarks/results/serving-*.json.
//
//   node benchmarks/dist/serving.js [--model M] [--routers DIR] [--streams 1,4,16,64] [--reps 2]
//        [--gen-tokens 64] [--prompt-tokens 64] [--threads 2] [--long-prompt 2000] [--long-streams 8]
//        [--prefill-chunks 0,16,64] [--no-llama] [--out benchmarks/results]
import { performance } from "node:perf_hooks";
import { loadModel, shippedSetFor, type LoadedModel, type RouterSetData } from "@first/core";
import { detokenizeWikitextParagraphs, loadLlamaCppPeer, roundSummary, summarizeValues, type LlamaCppParallelContext, type Summary } from "@first/bench";
import { native } from "./addon-decode.js";
import { fail, intListOption, intOption, parseOptions } from "./cli.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { DEFAULT_RESULTS_DIR, table, writeResults } from "./results.js";

const USAGE = `usage: node benchmarks/dist/serving.js [--model M] [--routers DIR] [--streams 1,4,16,64] [--reps 2]
       [--gen-tokens 64] [--prompt-tokens 64] [--threads 2] [--long-prompt 2000] [--long-streams 8]
       [--prefill-chunks 0,16,64] [--no-llama] [--out benchmarks/results]
Defaults: the routers shipped for the model (no adapter).`;
const args = parseOptions(
  {
    model: { type: "string" },
    routers: { type: "string" },
    streams: { type: "string" },
    reps: { type: "string" },
    "gen-tokens": { type: "string" },
    "prompt-tokens": { type: "string" },
    threads: { type: "string" },
    "long-prompt": { type: "string" },
    "long-streams": { type: "string" },
    "prefill-chunks": { type: "string" },
    "no-llama": { type: "boolean" },
    out: { type: "string" },
  },
  USAGE,
);

const modelPath = await benchmarkModel(args.model);
const routersDir = args.routers ?? (await shippedSetFor(modelPath))?.routersDir;
if (!routersDir) fail("no routers ship for this model: give --routers DIR");
const streamCounts = intListOption("streams", args.streams, [1, 4, 16, 64]);
const reps = intOption("reps", args.reps, 2);
const genTokens = intOption("gen-tokens", args["gen-tokens"], 64, 2);
const promptTokens = intOption("prompt-tokens", args["prompt-tokens"], 64);
const threads = intOption("threads", args.threads, 2);
const longPrompt = intOption("long-prompt", args["long-prompt"], 2000);
const longStreams = intOption("long-streams", args["long-streams"], 8);
const prefillChunks = intListOption("prefill-chunks", args["prefill-chunks"], [0, 16, 64], 0);
const maxStreams = Math.max(...streamCounts);
const log = (m: string) => process.stderr.write(`${m}\n`);

/** One engine under test: starts a greedy stream and reports each token's arrival. */
interface StreamEngine {
  name: string;
  stream(prompt: number[], maxTokens: number, onToken: () => void): Promise<void>;
}

function ours(name: string, model: LoadedModel, routers?: RouterSetData): StreamEngine {
  return {
    name,
    async stream(prompt, maxTokens, onToken) {
      // At the routers' threshold (alone they would take their checkpoint's budget without an adapter).
      const gen = model.generate({ tokens: prompt }, { temperature: 0, maxTokens, routers, threshold: routers?.config.threshold });
      for await (const _chunk of gen) onToken();
      await gen.result;
    },
  };
}

function llamaCpp(ctx: LlamaCppParallelContext): StreamEngine {
  return { name: "llama.cpp", stream: (prompt, maxTokens, onToken) => ctx.stream(prompt, maxTokens, onToken) };
}

interface RunResult {
  engine: string;
  streams: number;
  rep: number;
  tokens: number;
  decodeTokensPerSecond: number;
  ttftMs: Summary;
  itlMs: { p50: number; p99: number; mean: number };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** N streams at once; arrival times of every token of every stream. */
async function run(engine: StreamEngine, prompts: number[][], maxTokens: number): Promise<{ t0: number; times: number[][] }> {
  const times = prompts.map(() => [] as number[]);
  const t0 = performance.now();
  await Promise.all(prompts.map((p, i) => engine.stream(p, maxTokens, () => times[i].push(performance.now()))));
  return { t0, times };
}

function summarizeRun(engine: string, streams: number, rep: number, r: { t0: number; times: number[][] }): RunResult {
  const ttft = r.times.filter((t) => t.length > 0).map((t) => t[0] - r.t0);
  const itl = r.times.flatMap((t) => t.slice(1).map((x, i) => x - t[i])).sort((a, b) => a - b);
  const decodeTokens = r.times.reduce((n, t) => n + Math.max(0, t.length - 1), 0);
  const firstFirst = Math.min(...r.times.filter((t) => t.length > 0).map((t) => t[0]));
  const last = Math.max(...r.times.flat());
  return {
    engine,
    streams,
    rep,
    tokens: r.times.reduce((n, t) => n + t.length, 0),
    decodeTokensPerSecond: decodeTokens / ((last - firstFirst) / 1000),
    ttftMs: roundSummary(summarizeValues(ttft)),
    itlMs: { p50: percentile(itl, 50), p99: percentile(itl, 99), mean: itl.reduce((a, b) => a + b, 0) / Math.max(1, itl.length) },
  };
}

function promptsFor(model: LoadedModel, count: number, tokens: number): number[][] {
  const { paragraphs } = detokenizeWikitextParagraphs();
  const out: number[][] = [];
  for (const p of paragraphs) {
    const ids = model.tokenizer.encode(p, { addSpecial: true, parseSpecial: false });
    if (ids.length >= tokens) out.push(ids.slice(0, tokens));
    if (out.length === count) break;
  }
  if (out.length < count) fail(`only ${out.length} prompts of ${tokens} tokens in the WikiText test split`);
  return out;
}

/** A prompt of `tokens` tokens: WikiText paragraphs run together. */
function longPromptFor(model: LoadedModel, tokens: number): number[] {
  const { paragraphs } = detokenizeWikitextParagraphs();
  const ids = model.tokenizer.encode(paragraphs.slice(0, 400).join("\n"), { addSpecial: true, parseSpecial: false });
  if (ids.length < tokens) fail(`the WikiText text gives only ${ids.length} tokens for the long prompt`);
  return ids.slice(0, tokens);
}

// Engines: ours (one model, full and with routers: the same batches), and llama.cpp.
const ctx = promptTokens + genTokens + 8;
const model = await loadModel(modelPath, { threads, maxSequences: maxStreams, contextLength: ctx, pull: false });
const routers = await model.loadRouters(routersDir);
const engines: StreamEngine[] = [ours("full", model), ours("first", model, routers)];
let peerInfo: unknown = null;
let llamaUnavailable: string | null = null;
const peer = args["no-llama"] ? { unavailable: "--no-llama" } : await loadLlamaCppPeer(modelPath);
let llamaCtx: LlamaCppParallelContext | null = null;
if ("unavailable" in peer) llamaUnavailable = peer.unavailable;
else {
  peerInfo = peer.info();
  llamaCtx = await peer.parallelContext(threads, ctx, maxStreams, 512);
  engines.push(llamaCpp(llamaCtx));
}
const prompts = promptsFor(model, maxStreams, promptTokens);

// Warm-up: one short run of each engine.
for (const e of engines) await run(e, prompts.slice(0, 2), 4);

const runs: RunResult[] = [];
for (let rep = 0; rep < reps; rep++) {
  for (const n of streamCounts) {
    const order = engines.map((_, i) => engines[(i + rep) % engines.length]);
    for (const e of order) {
      const r = summarizeRun(e.name, n, rep, await run(e, prompts.slice(0, n), genTokens));
      runs.push(r);
      log(`rep ${rep + 1}/${reps} ${n} streams ${e.name}: ${r.decodeTokensPerSecond.toFixed(1)} tok/s, ttft p50 ${r.ttftMs.median.toFixed(0)} ms, itl p50 ${r.itlMs.p50.toFixed(1)} / p99 ${r.itlMs.p99.toFixed(1)} ms`);
    }
  }
}
await llamaCtx?.dispose();

// Long prompt: `longStreams` streams decode; after each has 16 tokens, a long prompt arrives.
interface LongResult {
  engine: string;
  prefillChunk: number | null;
  runningStreams: number;
  promptTokens: number;
  longTtftMs: number;
  itlBeforeMs: { p50: number; p99: number };
  itlDuringMs: { p50: number; p99: number; max: number };
  p99OverMedian: number;
}
async function longPromptRun(engine: StreamEngine, prefillChunk: number | null, short: number[][], long: number[]): Promise<LongResult> {
  const times = short.map(() => [] as number[]);
  let arrival = 0;
  let longFirst = 0;
  let release!: () => void;
  const ready = new Promise<void>((r) => (release = r));
  const running = short.map((p, i) =>
    engine.stream(p, 16 + 200, () => {
      times[i].push(performance.now());
      if (times.every((t) => t.length >= 16)) release();
    }),
  );
  await ready;
  arrival = performance.now();
  await engine.stream(long, 4, () => {
    if (longFirst === 0) longFirst = performance.now();
  });
  await Promise.all(running);
  // Gaps between consecutive tokens of the running streams that overlap [from, to].
  const gaps = (from: number, to: number) =>
    times
      .flatMap((t) => t.slice(1).map((x, i) => ({ start: t[i], end: x })))
      .filter((g) => g.end > from && g.start < to)
      .map((g) => g.end - g.start)
      .sort((a, b) => a - b);
  const before = gaps(0, arrival);
  const during = gaps(arrival, longFirst);
  const p50 = percentile(before, 50);
  return {
    engine: engine.name,
    prefillChunk,
    runningStreams: short.length,
    promptTokens: long.length,
    longTtftMs: longFirst - arrival,
    itlBeforeMs: { p50, p99: percentile(before, 99) },
    itlDuringMs: { p50: percentile(during, 50), p99: percentile(during, 99), max: during[during.length - 1] ?? NaN },
    p99OverMedian: percentile(during, 99) / p50,
  };
}
const longCtx = Math.max(longPrompt + 16, 256 + 16);
const longResults: LongResult[] = [];
for (const chunk of prefillChunks) {
  const longModel = await loadModel(modelPath, { threads, maxSequences: longStreams + 1, contextLength: longCtx, prefillChunk: chunk, pull: false });
  const long = longPromptFor(longModel, longPrompt);
  const r = await longPromptRun(ours(`full`, longModel), chunk, prompts.slice(0, longStreams), long);
  longResults.push(r);
  log(`long prompt (${longPrompt} tokens, prefill chunk ${chunk}) beside ${longStreams} streams, ours: its ttft ${r.longTtftMs.toFixed(0)} ms; running streams' itl p50 ${r.itlBeforeMs.p50.toFixed(1)} ms before, p99 ${r.itlDuringMs.p99.toFixed(1)} ms during (${r.p99OverMedian.toFixed(1)}x)`);
  await longModel.close();
}
let longLlama: LlamaCppParallelContext | null = null;
if (!("unavailable" in peer)) {
  longLlama = await peer.parallelContext(threads, longCtx, longStreams + 1, 512);
  const r = await longPromptRun(llamaCpp(longLlama), null, prompts.slice(0, longStreams), longPromptFor(model, longPrompt));
  longResults.push(r);
  log(`long prompt (${longPrompt} tokens) beside ${longStreams} streams, llama.cpp: its ttft ${r.longTtftMs.toFixed(0)} ms; running streams' itl p50 ${r.itlBeforeMs.p50.toFixed(1)} ms before, p99 ${r.itlDuringMs.p99.toFixed(1)} ms during (${r.p99OverMedian.toFixed(1)}x)`);
}
await longLlama?.dispose();
if (!("unavailable" in peer)) await peer.dispose();
await model.close();

// Medians over reps per (engine, streams), and ratios.
const medianOf = (xs: number[]) => summarizeValues(xs).median;
const summary = streamCounts.flatMap((n) =>
  engines.map((e) => {
    const rs = runs.filter((r) => r.engine === e.name && r.streams === n);
    return {
      engine: e.name,
      streams: n,
      decodeTokensPerSecond: medianOf(rs.map((r) => r.decodeTokensPerSecond)),
      ttftMsP50: medianOf(rs.map((r) => r.ttftMs.median)),
      itlMsP50: medianOf(rs.map((r) => r.itlMs.p50)),
      itlMsP99: medianOf(rs.map((r) => r.itlMs.p99)),
    };
  }),
);
const rows = summary.map((s) => {
  const full = summary.find((x) => x.engine === "full" && x.streams === s.streams)!;
  const llama = summary.find((x) => x.engine === "llama.cpp" && x.streams === s.streams);
  return [
    String(s.streams),
    s.engine,
    s.decodeTokensPerSecond.toFixed(1),
    (s.decodeTokensPerSecond / full.decodeTokensPerSecond).toFixed(2) + "x",
    llama ? (s.decodeTokensPerSecond / llama.decodeTokensPerSecond).toFixed(2) + "x" : "-",
    s.ttftMsP50.toFixed(0),
    s.itlMsP50.toFixed(1),
    s.itlMsP99.toFixed(1),
  ];
});
console.log(table(["streams", "engine", "decode tok/s", "vs full", "vs llama.cpp", "ttft p50 ms", "itl p50 ms", "itl p99 ms"], rows, 2));
const paths = writeResults(args.out ?? DEFAULT_RESULTS_DIR, "serving", {
  benchmark: "Serving under concurrency: N greedy streams at once, full model vs shipped routers vs llama.cpp; and a long prompt arriving beside running streams",
  date: new Date().toISOString(),
  machine: describeMachine(),
  kernels: native().kernels,
  model: modelPath,
  routers: routersDir,
  llamaCpp: peerInfo ?? { unavailable: llamaUnavailable },
  settings: { threads, reps, genTokens, promptTokens, streamCounts, longPrompt, longStreams, prefillChunks, contextPerSequence: ctx },
  measuredWith:
    "library level in one process: @first/core generate() streams on one LoadedModel (maxSequences = the most streams; continuous batching in its worker), node-llama-cpp sequence.evaluate() on one context of that many sequences; greedy; token arrival times by performance.now()",
  summary,
  runs,
  longPrompt: longResults,
});
console.log(`\nwrote ${paths.join(", ")}`);
