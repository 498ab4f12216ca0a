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
}

export declare function readGguf(path: string): GgufInfo;
export declare const kernels: string;
