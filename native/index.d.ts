// Types of the Node-API surface (binding/addon.cc). Every method throws an
// Error with a readable message on bad input; KV exhaustion has code "KV_CAPACITY".

export interface GgufTensorInfo {
  name: string;
  type: string;
  shape: number[];
  offset: number;
  nBytes: number;
}

export interface GgufInfo {
  version: number;
  alignment: number;
  fileSize: number;
  metadata: Record<string, unknown>;
  tensors: GgufTensorInfo[];
}

export interface ModelConfig {
  architecture: string;
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffnDim: number;
  vocabSize: number;
  contextLength: number;
  ropeBase: number;
  rmsEps: number;
  tiedOutput: boolean;
  weightBytes: number;
  kernels: string;
}

export declare class Model {
  constructor(path: string);
  config(): ModelConfig;
}

export interface EngineOptions {
  threads?: number;
  blockTokens?: number;
  kvBlocks?: number;
  maxSequences?: number;
  contextLength?: number;
}

export interface BatchEntry {
  seq: number;
  tokens: Int32Array | number[];
  /** The adapter this entry's rows take: 0 none, k adapter k; absent: the engine's default. */
  adapter?: number;
}

export interface KvStats {
  usedBlocks: number;
  freeBlocks: number;
  blockBytes: number;
  blockTokens: number;
  sequenceBlocks?: number;
  layerBlocks?: number[];
}

export declare class Engine {
  constructor(model: Model, options?: EngineOptions);
  createSequence(): number;
  freeSequence(seq: number): void;
  forkSequence(seq: number): number;
  sequenceLength(seq: number): number;
  truncateSequence(seq: number, length: number): void;
  beginBatch(entries: BatchEntry[]): void;
  runLayer(layer: number, entries: Int32Array | number[]): void;
  meanHidden(entry: number, out?: Float32Array): Float32Array;
  hiddenRows(entry: number): Float32Array;
  logits(lastOnly?: boolean, out?: Float32Array): Float32Array;
  commitBatch(): void;
  kvStats(seq?: number): KvStats;
  info(): { threads: number; contextLength: number; kernels: string; maxBlocks: number };
  /** Unmerged LoRA on one projection: y += scale * B (A x). A is [rank x in], B is [out x rank], row-major. */
  /** Part of adapter `adapter` (1..64, numbered without gaps; default 1). */
  setLora(layer: number, module: "q" | "k" | "v" | "o" | "gate" | "up" | "down" | string, a: Float32Array, b: Float32Array, scale: number, adapter?: number): void;
  /** The adapter of batch entries that name none: 0 the base model; default adapter 1 when it exists. */
  setDefaultAdapter(adapter: number): void;
  clearLora(): void;
}

export declare function readGguf(path: string): GgufInfo;
/** The kernel set active when the addon loaded: "avx512", "avx2" or "scalar". */
export declare const kernels: string;
/** The kernel set active now. */
export declare function activeKernels(): string;
/** Caps the kernel set for the whole process; returns the set now active (lower where the CPU lacks the one asked for). */
export declare function setKernels(name: "scalar" | "avx2" | "avx512"): string;
/** The kernel sets this CPU can run, best first. */
export declare function kernelSets(): string[];

export interface ReadBandwidth {
  /** Median over the passes, in 1e9 bytes per second. */
  gbPerSecond: number;
  bestGbPerSecond: number;
  bytes: number;
  passes: number;
  threads: number;
}
/** How fast `threads` threads stream a `mib` MiB buffer (default 512), median of `passes` (default 5); blocks the caller. */
export declare function measureReadBandwidth(threads?: number, mib?: number, passes?: number): ReadBandwidth;

// ---- Training (binding/trainer.cc) ----------------------------------------------
// h_{l+1} = h_l + g_l * (F_l(h_l) - h_l) with one gate per sequence and layer.
// Order per step: begin, forwardLayer 0..L-1, loss, backwardLayer L-1..0, end.

export type LoraModuleName = "q" | "k" | "v" | "o" | "gate" | "up" | "down";

export interface TrainerOptions {
  threads?: number;
  /** vocabulary rows per cross-entropy chunk (default 4096) */
  ceChunk?: number;
  /** scale = alpha / rank (alpha defaults to rank); A ~ U(+-1/sqrt(in)), B = 0 */
  lora?: { rank: number; alpha?: number; targets: LoraModuleName[]; seed?: number };
}

export interface LoraTensorInfo {
  /** "blk.<layer>.<module>.<A|B>" */
  name: string;
  layer: number;
  module: LoraModuleName;
  kind: "A" | "B";
  /** A: rank x in, B: out x rank (row-major) */
  rows: number;
  cols: number;
}

export interface TrainSequence {
  tokens: Int32Array | number[];
  /** -1: no loss at this position; else the token id to predict from it */
  targets: Int32Array | number[];
  /** 1..tokens.length; meanHidden averages positions [0, promptLength) */
  promptLength: number;
}

export declare class Trainer {
  constructor(model: Model, options?: TrainerOptions);
  loraTensors(): LoraTensorInfo[];
  getLora(name: string): Float32Array;
  setLora(name: string, data: Float32Array): void;
  /** accumulated over backward passes until zeroGrad() */
  loraGrad(name: string): Float32Array;
  zeroGrad(): void;
  begin(seqs: TrainSequence[]): void;
  /** mean over the prompt positions of the hidden state entering the next layer */
  meanHidden(seq: number, out?: Float32Array): Float32Array;
  /** one gate per sequence; a gate of exactly 0 skips the layer for that sequence */
  forwardLayer(layer: number, gates: Float32Array): void;
  /**
   * Mean cross-entropy over the target positions ("tokens", default) or per
   * sequence, then over the sequences ("sequences": each example weighs the
   * same however short its response); prepares the gradient for backwardLayer.
   */
  loss(weighting?: "tokens" | "sequences"): { loss: number; tokens: number };
  /** returns dL/dg_l per sequence (0 where the gate was 0); meanHiddenGrad (nSeq x dModel): gradient w.r.t. the mean prompt hidden state leaving layer l (router l+1's input), added before the gradient flows through l */
  backwardLayer(layer: number, meanHiddenGrad?: Float32Array): Float32Array;
  end(): void;
  info(): { threads: number; nSequences: number };
}
