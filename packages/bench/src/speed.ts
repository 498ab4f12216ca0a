// The speed benchmark in the manner of llama-bench: prompt processing (ppN)
// and token generation (tgN) tokens per second, repeated at each thread
// count, optionally with llama.cpp side by side on the same prompt ids.
import { basename } from "node:path";
import { AbortedError, type GenerateOptions, loadModel, type LoadedModel, nativeAddon, readGguf } from "@first/core";
import { loadLlamaCppPeer, type LlamaCppContext, type LlamaCppInfo, type LlamaCppPeer } from "./llama-peer.js";
import { agreement, measureRep, tokensPerSecond, type RepTiming } from "./measure.js";
import { promptText } from "./prompt-text.js";
import { summarizeValues, type Summary } from "./stats.js";

export type LayerChoice = Pick<GenerateOptions, "plan" | "routers" | "threshold" | "layerBudget" | "skipRatio">;

export interface SpeedBenchOptions {
  modelPath: string;
  threads: number[];
  promptTokens: number;
  genTokens: number;
  reps: number;
  /** Layers our engine runs, chosen once the model is loaded (default: all). */
  layers?: (model: LoadedModel) => Promise<LayerChoice>;
  /** A label for `layers` in the results (e.g. "uls:6", "first@0.5"). */
  policy?: string;
  /** Run llama.cpp side by side when node-llama-cpp can be imported. */
  peer?: boolean;
  dataDir?: string;
  /**
   * Our engine's kernel sets to compare ("avx512", "avx2", "scalar"), each rep
   * of each in turn (default: the set active now). Sets the CPU lacks are refused.
   */
  kernels?: string[];
  /** Measure the machine's read bandwidth at each thread count and set decode against it (default true). */
  bandwidth?: boolean;
  onProgress?: (message: string) => void;
  /** Checked between reps. */
  signal?: AbortSignal;
}

export interface ModelDescription {
  file: string;
  /** "llama 135M Q4_1": architecture, size label, dominant weight type. */
  name: string;
  /** Bytes of all tensors. */
  sizeBytes: number;
  params: number;
}

export interface SpeedRow {
  engine: "first" | "llama.cpp";
  /** Our engine's kernel set ("avx512", "avx2", "scalar"); llama.cpp picks its own. */
  kernels?: string;
  threads: number;
  /** pp512 (prompt processing) or tg128 (token generation). */
  test: string;
  tokensPerSecond: Summary;
  /**
   * tg rows of our engine: the bandwidth limit's share of the median decode
   * step (bytes a step reads / read bandwidth, over the step's time); 1 would
   * be a step as fast as memory allows.
   */
  bandwidthShare?: number;
}

/** What a decode step must read, and how fast this machine reads. */
export interface BandwidthLimit {
  /** Weights a decode step reads: the executed blocks' tensors, the output norm and the output head. */
  weightBytesPerStep: number;
  /** KV cache a step reads at the middle of the timed decode (prompt + steps / 2 positions). */
  kvBytesPerStep: number;
  /** Read bandwidth at each thread count (median of 5 passes over 512 MiB, the higher of a reading before and one after the reps), GB/s. */
  gbPerSecond: Record<number, number>;
  /** (weight + KV bytes) / bandwidth: the fastest step memory allows, ms, per thread count. */
  limitMsPerStep: Record<number, number>;
}

export interface SpeedBenchResult {
  model: ModelDescription;
  /** "cpu avx2": our engine's kernels (every set compared, comma-separated). */
  backend: string;
  policy: string;
  /** Mean decoder layers our engine executed. */
  executedLayers: number;
  promptTokens: number;
  /** Decode steps timed (genTokens, or fewer when the greedy text reached its end). */
  decodeSteps: number;
  reps: number;
  promptSource: string;
  rows: SpeedRow[];
  /** Absent when bandwidth was not measured. */
  bandwidth?: BandwidthLimit;
  peer: (LlamaCppInfo & { greedyAgreement: Record<number, number> }) | { unavailable: string } | null;
  notes: string[];
}

/** Architecture, size and weight type of a GGUF file, as llama-bench names a model. */
export function describeModel(path: string): ModelDescription {
  const info = readGguf(path);
  let params = 0;
  let sizeBytes = 0;
  const bytesByType = new Map<string, number>();
  for (const t of info.tensors) {
    params += t.shape.reduce((a, b) => a * b, 1);
    sizeBytes += t.nBytes;
    if (t.shape.length >= 2 && t.name.startsWith("blk.")) bytesByType.set(t.type, (bytesByType.get(t.type) ?? 0) + t.nBytes);
  }
  const weightType = [...bytesByType].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "?";
  const arch = String(info.metadata["general.architecture"] ?? "model");
  const sizeLabel = info.metadata["general.size_label"];
  const size = typeof sizeLabel === "string" ? sizeLabel : params >= 1e6 ? `${(params / 1e6).toFixed(0)}M` : `${(params / 1e3).toFixed(0)}K`;
  return { file: basename(path), name: `${arch} ${size} ${weightType}`, sizeBytes, params };
}

export async function runSpeedBench(o: SpeedBenchOptions): Promise<SpeedBenchResult> {
  const say = o.onProgress ?? (() => undefined);
  const model = describeModel(o.modelPath);
  const contextLength = Math.ceil((o.promptTokens + o.genTokens + 1) / 256) * 256;
  const text = promptText(o.promptTokens * 12, o.dataDir);
  const notes: string[] = [];
  let peer: LlamaCppPeer | null = null;
  let peerResult: SpeedBenchResult["peer"] = null;
  if (o.peer) {
    const loaded = await loadLlamaCppPeer(o.modelPath);
    if ("unavailable" in loaded) {
      peerResult = loaded;
      notes.push(`llama.cpp skipped: ${loaded.unavailable}`);
    } else {
      peer = loaded;
      if (o.layers) notes.push("llama.cpp always runs every layer; only our engine applies the layer policy");
    }
  }

  const addon = nativeAddon();
  const available = addon.kernelSets();
  const kernelSets = o.kernels ?? [addon.activeKernels()];
  for (const k of kernelSets)
    if (!available.includes(k)) throw new Error(`kernel set "${k}" is not available on this CPU (it has ${available.join(", ")})`);
  const initialKernels = addon.activeKernels();
  const rows: SpeedRow[] = [];
  const bandwidth: Record<number, number> = {};
  let kvBytesPerToken = 0;
  const greedyAgreement: Record<number, number> = {};
  let prompt: number[] = [];
  let decodeSteps = o.genTokens;
  let backend = "cpu";
  const executed: number[] = [];
  try {
    for (const threads of o.threads) {
      if (o.bandwidth !== false) {
        bandwidth[threads] = addon.measureReadBandwidth(threads).gbPerSecond;
        say(`threads ${threads}: read bandwidth ${bandwidth[threads].toFixed(1)} GB/s`);
      }
      const ours = await loadModel(o.modelPath, { threads, contextLength, maxSequences: 1, pull: false });
      let context: LlamaCppContext | null = null;
      try {
        backend = `cpu ${kernelSets.join(",")}`;
        const layers = o.layers ? await o.layers(ours) : {};
        if (prompt.length === 0) prompt = promptIds(ours, text.text, o.promptTokens);
        context = peer ? await peer.context(threads, contextLength, Math.max(512, o.promptTokens)) : null;

        // Warm-up, which also fixes how many decode steps every rep runs:
        // fewer than asked only when our greedy continuation ends early.
        const warm = await measureRep(ours, prompt, decodeSteps, layers);
        if (warm.wall.decodeSteps < decodeSteps) {
          notes.push(`generation reached end-of-text after ${warm.wall.decodeSteps} decode steps; every rep runs that many`);
          decodeSteps = warm.wall.decodeSteps;
        }
        if (context) greedyAgreement[threads] = agreement(warm.wall.tokens, (await context.rep(prompt, decodeSteps)).tokens);

        kvBytesPerToken = warm.kvBytes / prompt.length;
        const mine = new Map<string, RepTiming[]>(kernelSets.map((k) => [k, []]));
        const theirs: RepTiming[] = [];
        // One rep of each kernel set, in turn (reversed every other rep).
        const runOurs = async (i: number) => {
          for (const k of i % 2 === 0 ? kernelSets : [...kernelSets].reverse()) {
            if (addon.setKernels(k as "avx512" | "avx2" | "scalar") !== k) throw new Error(`could not switch to the ${k} kernels`);
            const r = await measureRep(ours, prompt, decodeSteps, layers);
            if (r.wall.decodeSteps !== decodeSteps) throw new Error(`our engine ran ${r.wall.decodeSteps} decode steps, expected ${decodeSteps}`);
            mine.get(k)!.push(r.wall);
            executed.push(r.executedLayers);
          }
        };
        const runTheirs = async () => {
          if (context) theirs.push(await context.rep(prompt, decodeSteps));
        };
        // Alternate which engine goes first, so slow drifts of the machine hit both alike.
        for (let i = 0; i < o.reps; i++) {
          if (o.signal?.aborted) throw new AbortedError();
          for (const step of i % 2 === 0 ? [runOurs, runTheirs] : [runTheirs, runOurs]) await step(i);
          say(`threads ${threads}: rep ${i + 1}/${o.reps} done`);
        }
        // Bandwidth again after the reps; the higher reading sets the limit, so
        // a slow moment of the machine cannot flatter the share.
        if (o.bandwidth !== false) bandwidth[threads] = Math.max(bandwidth[threads], addon.measureReadBandwidth(threads).gbPerSecond);
        for (const k of kernelSets) rows.push(...speedRows("first", threads, mine.get(k)!, o.promptTokens, k));
        if (context) rows.push(...speedRows("llama.cpp", threads, theirs, o.promptTokens));
      } finally {
        addon.setKernels(initialKernels as "avx512" | "avx2" | "scalar");
        await context?.dispose();
        await ours.close();
      }
    }
    if (peer) peerResult = { ...peer.info(), greedyAgreement };
  } finally {
    await peer?.dispose();
  }
  // Rows by thread count, then test, with the engines (and our kernel sets, in the order asked) side by side.
  const order = (r: SpeedRow) => [r.threads, r.test.startsWith("pp") ? 0 : 1, r.engine === "first" ? kernelSets.indexOf(r.kernels ?? "") : kernelSets.length];
  rows.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  const meanExecuted = executed.length > 0 ? executed.reduce((a, b) => a + b, 0) / executed.length : 0;
  let limit: BandwidthLimit | undefined;
  if (o.bandwidth !== false) {
    const weightBytesPerStep = decodeWeightBytes(o.modelPath, meanExecuted);
    const kvBytesPerStep = kvBytesPerToken * (o.promptTokens + decodeSteps / 2);
    const limitMsPerStep = Object.fromEntries(
      Object.entries(bandwidth).map(([t, gbs]) => [t, ((weightBytesPerStep + kvBytesPerStep) / (gbs * 1e9)) * 1000]),
    );
    limit = { weightBytesPerStep, kvBytesPerStep, gbPerSecond: bandwidth, limitMsPerStep };
    for (const row of rows) {
      if (row.engine !== "first" || !row.test.startsWith("tg") || limitMsPerStep[row.threads] === undefined) continue;
      const stepMs = 1000 / row.tokensPerSecond.median;
      row.bandwidthShare = limitMsPerStep[row.threads] / stepMs;
    }
  }
  return {
    model,
    backend,
    policy: o.policy ?? "full",
    executedLayers: meanExecuted,
    promptTokens: o.promptTokens,
    decodeSteps,
    reps: o.reps,
    promptSource: text.source,
    rows,
    bandwidth: limit,
    peer: peerResult,
    notes,
  };
}

function speedRows(engine: SpeedRow["engine"], threads: number, t: RepTiming[], promptTokens: number, kernels?: string): SpeedRow[] {
  const k = kernels !== undefined ? { kernels } : {};
  return [
    { engine, ...k, threads, test: `pp${promptTokens}`, tokensPerSecond: summarizeValues(t.map((r) => tokensPerSecond(promptTokens, r.prefillMs))) },
    { engine, ...k, threads, test: `tg${t[0].decodeSteps}`, tokensPerSecond: summarizeValues(t.map((r) => tokensPerSecond(r.decodeSteps, r.decodeMs))) },
  ];
}

/**
 * Weight bytes one decode step reads: every block tensor (scaled to the
 * executed layers), the output norm, and the output head (token_embd when
 * the head is tied to it; the embedding lookup itself reads one row).
 */
export function decodeWeightBytes(path: string, executedLayers: number): number {
  const info = readGguf(path);
  const blockCount = Number(info.metadata[`${String(info.metadata["general.architecture"])}.block_count`] ?? 0);
  let blocks = 0;
  let head = 0;
  let embd = 0;
  let norm = 0;
  for (const t of info.tensors) {
    if (t.name.startsWith("blk.")) blocks += t.nBytes;
    else if (t.name === "output.weight") head = t.nBytes;
    else if (t.name === "token_embd.weight") embd = t.nBytes;
    else if (t.name === "output_norm.weight") norm = t.nBytes;
  }
  const share = blockCount > 0 && executedLayers > 0 ? executedLayers / blockCount : 1;
  return blocks * share + norm + (head > 0 ? head : embd);
}

/** `count` prompt ids from `text` (BOS where the model asks for one; special tokens as plain text), repeating the text if short. */
function promptIds(model: LoadedModel, fullText: string, count: number): number[] {
  // About 12 characters per token is plenty; tokenizing all of WikiText would take seconds.
  const text = fullText.slice(0, count * 12);
  let ids = model.tokenizer.encode(text, { addSpecial: true, parseSpecial: false });
  while (ids.length < count) ids = ids.concat(model.tokenizer.encode(` ${text}`, { addSpecial: false, parseSpecial: false }));
  return ids.slice(0, count);
}
