// Greedy decoding that drives the addon directly, layer by layer, with the
// same calls per token as the engine worker makes (beginBatch, one runLayer
// per layer, logits, commitBatch).
import { createRequire } from "node:module";
import type * as NativeModule from "@first/native";
import { readGguf, Tokenizer } from "@first/core";

const require = createRequire(import.meta.url);

export type Native = typeof NativeModule;

export function native(): Native {
  return require("@first/native") as Native;
}

export interface AddonSession {
  engine: NativeModule.Engine;
  config: NativeModule.ModelConfig;
  tokenizer: Tokenizer;
}

export function openAddon(modelPath: string, threads: number, contextLength: number, maxSequences = 2): AddonSession {
  const { Model, Engine } = native();
  const model = new Model(modelPath);
  const engine = new Engine(model, { threads, contextLength, maxSequences });
  return { engine, config: model.config(), tokenizer: Tokenizer.fromGgufMetadata(readGguf(modelPath).metadata) };
}

export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

export class AddonDecoder {
  private readonly logitsBuf: Float32Array;
  private readonly run = new Int32Array(1);

  constructor(
    private readonly engine: NativeModule.Engine,
    private readonly nLayers: number,
    vocab: number,
  ) {
    this.logitsBuf = new Float32Array(vocab);
  }

  /**
   * Evaluates `tokens` on `seq` through every layer; returns the next-token logits (a reused buffer).
   * `adapter` names the engine's adapter for this step (0: the base model); without it, the default.
   */
  step(seq: number, tokens: Int32Array, adapter?: number): Float32Array {
    this.engine.beginBatch([adapter === undefined ? { seq, tokens } : { seq, tokens, adapter }]);
    for (let l = 0; l < this.nLayers; l++) this.engine.runLayer(l, this.run.subarray(0, 1));
    const out = this.engine.logits(true, this.logitsBuf);
    this.engine.commitBatch();
    return out;
  }
}
