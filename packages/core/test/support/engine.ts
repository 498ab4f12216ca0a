// Helpers shared by the engine tests: the built library (loadModel runs its
// engine in a worker thread that exists only as compiled JavaScript, so these
// tests use dist/), direct addon access for next-token logits at any step, and
// the shared datasets folder.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type * as NativeModule from "@first/native";

const here = path.dirname(fileURLToPath(import.meta.url));
const DIST_INDEX = path.join(here, "..", "..", "dist", "index.js");

type Core = typeof import("../../src/index.js");

/** The compiled @first/core (run `npx tsc -p tsconfig.json` in packages/core first). */
export async function core(): Promise<Core> {
  if (!existsSync(DIST_INDEX)) throw new Error(`${DIST_INDEX} is missing: build @first/core first (pnpm build)`);
  return (await import(/* @vite-ignore */ DIST_INDEX)) as Core;
}

export type Native = typeof NativeModule;
export type Engine = NativeModule.Engine;

export function native(): Native {
  return createRequire(import.meta.url)("@first/native") as Native;
}

/** shared/data: FIRST_DATA, else the first `shared/data` found walking up from this file. */
export function dataRoot(): string {
  if (process.env.FIRST_DATA) return process.env.FIRST_DATA;
  for (let dir = here; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "shared", "data");
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error("Datasets not found: no shared/data beside the repository. Set FIRST_DATA to the datasets folder.");
}

/** An engine on its own (no worker, no sampler): one sequence per call, all layers. */
export class DirectEngine {
  readonly engine: Engine;
  readonly nLayers: number;
  readonly vocab: number;
  private readonly allEntries: Int32Array;

  constructor(modelPath: string, options: NativeModule.EngineOptions = {}) {
    const { Model, Engine } = native();
    const model = new Model(modelPath);
    const config = model.config();
    this.engine = new Engine(model, { threads: 2, contextLength: 1024, ...options });
    this.nLayers = config.nLayers;
    this.vocab = config.vocabSize;
    this.allEntries = Int32Array.from({ length: 64 }, (_, i) => i);
  }

  /** Runs one step of the given entries through every layer; returns last-position logits, one row per entry. */
  step(entries: Array<{ seq: number; tokens: number[] }>): Float32Array[] {
    this.engine.beginBatch(entries.map((e) => ({ seq: e.seq, tokens: Int32Array.from(e.tokens) })));
    const run = this.allEntries.subarray(0, entries.length);
    for (let l = 0; l < this.nLayers; l++) this.engine.runLayer(l, run);
    const all = this.engine.logits(true);
    this.engine.commitBatch();
    return entries.map((_, i) => all.slice(i * this.vocab, (i + 1) * this.vocab));
  }

  /** Next-token logits after `ids`, prefilled in one step on a fresh sequence. */
  nextLogits(ids: number[]): Float32Array {
    const seq = this.engine.createSequence();
    try {
      return this.step([{ seq, tokens: ids }])[0];
    } finally {
      this.engine.freeSequence(seq);
    }
  }

  /** Greedy continuation: prefill, then one token per step (end-of-text does not stop it). */
  greedy(ids: number[], n: number): number[] {
    const seq = this.engine.createSequence();
    try {
      return this.greedyOn(seq, ids, n);
    } finally {
      this.engine.freeSequence(seq);
    }
  }

  /** Greedy continuation of an existing sequence, feeding `ids` first. */
  greedyOn(seq: number, ids: number[], n: number): number[] {
    const out: number[] = [];
    let logits = this.step([{ seq, tokens: ids }])[0];
    for (let i = 0; i < n; i++) {
      const t = argmax(logits);
      out.push(t);
      if (i + 1 < n) logits = this.step([{ seq, tokens: [t] }])[0];
    }
    return out;
  }
}

/**
 * Writes `to`: the model at `from` with every tensor dequantized to F32 (same
 * metadata, file type F32). The weights are exactly those the quantized model
 * computes with, so both engines can be compared without activation rounding.
 */
export async function writeDequantizedF32(from: string, to: string): Promise<void> {
  const { readFileSync } = await import("node:fs");
  const { dequantize } = await import("../../src/gguf/quantize.js");
  const { writeGguf } = await import("../../src/gguf/writer.js");
  type Value = import("../../src/gguf/writer.js").GgufWriteValue;
  type Type = import("../../src/gguf/quantize.js").GgufTensorType;
  const info = native().readGguf(from);
  const bytes = readFileSync(from);
  const dataStart = info.fileSize - Math.max(...info.tensors.map((t) => t.offset + t.nBytes));
  const metadata = Object.entries(info.metadata)
    .filter(([k]) => k !== "general.quantization_version")
    .map(([k, v]): [string, Value] => {
      if (k === "general.file_type") return [k, { type: "u32", value: 0 }];
      if (/freq_base|epsilon|scale/.test(k)) return [k, { type: "f32", value: v as number }];
      if (k === "tokenizer.ggml.token_type") return [k, { type: "array", elemType: "i32", value: v as number[] }];
      return [k, v as Value];
    });
  const tensors = info.tensors.map((t) => {
    const count = t.shape.reduce((a, b) => a * b, 1);
    const raw = new Uint8Array(bytes.buffer, bytes.byteOffset + dataStart + t.offset, t.nBytes);
    return { name: t.name, type: "F32" as const, shape: t.shape, data: dequantize(t.type as Type, raw, count) };
  });
  writeGguf(to, { version: 3, metadata, tensors });
}

export function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/** log-softmax in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}

/** Indices of the k largest values, largest first. */
export function topK(v: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: v.length }, (_, i) => i)
    .sort((a, b) => v[b] - v[a])
    .slice(0, k);
}

/**
 * llama.cpp set up to compute in float32 throughout: no flash attention (its
 * CPU path rounds to F16) and an F32 KV cache. With float32 weights its
 * results then differ from ours only by summation order.
 */
export interface ExactPeer {
  /** Greedy decoding of n tokens after ids, end-of-text included (no probabilities: fast). */
  greedy(ids: readonly number[], n: number): Promise<number[]>;
  /** Log-softmax of the next-token logits after ids (-Infinity where float32 underflows). */
  nextTokenLogProbs(ids: readonly number[]): Promise<Float64Array>;
  dispose(): Promise<void>;
}

export async function openExactPeer(modelPath: string, contextSize: number, threads = 2): Promise<ExactPeer> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({
    contextSize,
    threads,
    sequences: 1,
    flashAttention: false,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
  });
  const sequence = context.getSequence();
  type Token = Parameters<typeof sequence.evaluate>[0][number];
  const tokens = (ids: readonly number[]) => ids.map((id) => id as Token);
  return {
    async greedy(ids, n) {
      await sequence.clearHistory();
      const out: number[] = [];
      for await (const t of sequence.evaluate(tokens(ids), { temperature: 0, yieldEogToken: true })) {
        out.push(t);
        if (out.length >= n) break;
      }
      return out;
    },
    async nextTokenLogProbs(ids) {
      await sequence.clearHistory();
      const input = tokens(ids);
      const last = input.length - 1;
      const output = await sequence.controlledEvaluate([
        ...input.slice(0, last),
        [input[last], { generateNext: { probabilities: true } }],
      ]);
      const probabilities = output[last]?.next.probabilities;
      if (probabilities === undefined) throw new Error("llama.cpp returned no probabilities");
      const lp = new Float64Array(probabilities.size).fill(-Infinity); // every vocabulary entry is listed
      for (const [t, p] of probabilities) lp[t] = Math.log(p);
      return lp;
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}

/**
 * The cross-entropy at each position with a target (>= 0) of one sequence run
 * through all `nLayers` layers of a fresh sequence on `engine`: a reference
 * for the Trainer's loss made by the inference path.
 */
export function engineTokenLosses(engine: Engine, nLayers: number, tokens: Int32Array, targets: Int32Array): number[] {
  const seq = engine.createSequence();
  engine.beginBatch([{ seq, tokens }]);
  for (let l = 0; l < nLayers; l++) engine.runLayer(l, [0]);
  const logits = engine.logits(false);
  engine.commitBatch();
  const vocab = logits.length / tokens.length;
  return [...targets].flatMap((t, j) => (t < 0 ? [] : [-logSoftmax(logits.subarray(j * vocab, (j + 1) * vocab))[t]]));
}

/** n random token ids (no special tokens: ids from 3), the same for the same seed. */
export function randomIds(n: number, vocab: number, seed: number): number[] {
  let s = seed >>> 0;
  const ids: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    ids.push(3 + (s % (vocab - 3)));
  }
  return ids;
}

/** Our engine and llama.cpp on the same file and prompt: next-token log-probabilities and greedy continuations. */
export async function compareWithPeer(
  file: string,
  ids: number[],
  continuation: number,
): Promise<{ mine: Float64Array; theirs: Float64Array; maxDiff: number; ours: number[]; peers: number[] }> {
  const peer = await openExactPeer(file, 64, 1);
  try {
    const engine = new DirectEngine(file, { threads: 1, contextLength: 64, maxSequences: 1 });
    const mine = logSoftmax(engine.nextLogits(ids));
    const theirs = await peer.nextTokenLogProbs(ids);
    let maxDiff = theirs.length === mine.length ? 0 : Infinity;
    for (let i = 0; i < Math.min(mine.length, theirs.length); i++) maxDiff = Math.max(maxDiff, Math.abs(mine[i] - theirs[i]));
    return { mine, theirs, maxDiff, ours: engine.greedy(ids, continuation), peers: await peer.greedy(ids, continuation) };
  } finally {
    await peer.dispose();
  }
}
