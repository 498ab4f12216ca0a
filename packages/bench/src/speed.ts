// The speed benchmark in the manner of llama-bench: prompt processing (ppN)
// and token generation (tgN) tokens per second, repeated at each thread
// count, optionally with llama.cpp side by side on the same prompt ids.
import { basename } from "node:path";
import { AbortedError, type GenerateOptions, loadModel, type LoadedModel, readGguf } from "@first/core";
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
  threads: number;
  /** pp512 (prompt processing) or tg128 (token generation). */
  test: string;
  tokensPerSecond: Summary;
}

export interface SpeedBenchResult {
  model: ModelDescription;
  /** "cpu avx2": our engine's kernels. */
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

  const rows: SpeedRow[] = [];
  const greedyAgreement: Record<number, number> = {};
  let prompt: number[] = [];
  let decodeSteps = o.genTokens;
  let backend = "cpu";
  const executed: number[] = [];
  try {
    for (const threads of o.threads) {
      const ours = await loadModel(o.modelPath, { threads, contextLength, maxSequences: 1, pull: false });
      let context: LlamaCppContext | null = null;
      try {
        backend = `cpu ${ours.engine.kernels}`;
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

        const mine: RepTiming[] = [];
        const theirs: RepTiming[] = [];
        const runOurs = async () => {
          const r = await measureRep(ours, prompt, decodeSteps, layers);
          if (r.wall.decodeSteps !== decodeSteps) throw new Error(`our engine ran ${r.wall.decodeSteps} decode steps, expected ${decodeSteps}`);
          mine.push(r.wall);
          executed.push(r.executedLayers);
        };
        const runTheirs = async () => {
          if (context) theirs.push(await context.rep(prompt, decodeSteps));
        };
        // Alternate which engine goes first, so slow drifts of the machine hit both alike.
        for (let i = 0; i < o.reps; i++) {
          if (o.signal?.aborted) throw new AbortedError();
          for (const step of i % 2 === 0 ? [runOurs, runTheirs] : [runTheirs, runOurs]) await step();
          say(`threads ${threads}: rep ${i + 1}/${o.reps} done`);
        }
        rows.push(...speedRows("first", threads, mine, o.promptTokens));
        if (context) rows.push(...speedRows("llama.cpp", threads, theirs, o.promptTokens));
      } finally {
        await context?.dispose();
        await ours.close();
      }
    }
    if (peer) peerResult = { ...peer.info(), greedyAgreement };
  } finally {
    await peer?.dispose();
  }
  // Rows by thread count, then test, with the two engines side by side.
  const order = (r: SpeedRow) => [r.threads, r.test.startsWith("pp") ? 0 : 1, r.engine === "first" ? 0 : 1];
  rows.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  return {
    model,
    backend,
    policy: o.policy ?? "full",
    executedLayers: executed.length > 0 ? executed.reduce((a, b) => a + b, 0) / executed.length : 0,
    promptTokens: o.promptTokens,
    decodeSteps,
    reps: o.reps,
    promptSource: text.source,
    rows,
    peer: peerResult,
    notes,
  };
}

function speedRows(engine: SpeedRow["engine"], threads: number, t: RepTiming[], promptTokens: number): SpeedRow[] {
  return [
    { engine, threads, test: `pp${promptTokens}`, tokensPerSecond: summarizeValues(t.map((r) => tokensPerSecond(promptTokens, r.prefillMs))) },
    { engine, threads, test: `tg${t[0].decodeSteps}`, tokensPerSecond: summarizeValues(t.map((r) => tokensPerSecond(r.decodeSteps, r.decodeMs))) },
  ];
}

/** `count` prompt ids from `text` (BOS where the model asks for one; special tokens as plain text), repeating the text if short. */
function promptIds(model: LoadedModel, fullText: string, count: number): number[] {
  // About 12 characters per token is plenty; tokenizing all of WikiText would take seconds.
  const text = fullText.slice(0, count * 12);
  let ids = model.tokenizer.encode(text, { addSpecial: true, parseSpecial: false });
  while (ids.length < count) ids = ids.concat(model.tokenizer.encode(` ${text}`, { addSpecial: false, parseSpecial: false }));
  return ids.slice(0, count);
}
