// What the training loop needs from the model: the native Trainer's API
// (@first/native), declared here so the loop is also testable against a
// small model written in TypeScript.
import type { LayerStack } from "@first/core";

export interface LoraTensorInfo {
  name: string;
  layer: number;
  module: string;
  kind: "A" | "B";
  rows: number;
  cols: number;
}

/** "tokens": every response token weighs the same; "sequences": every example does. */
export type LossWeighting = "tokens" | "sequences";

export interface BackendSequence {
  tokens: Int32Array;
  /** -1 = no loss at this position; else the token to predict from it. */
  targets: Int32Array;
  promptLength: number;
}

export interface TrainBackend {
  loraTensors(): LoraTensorInfo[];
  getLora(name: string): Float32Array;
  setLora(name: string, data: Float32Array): void;
  loraGrad(name: string): Float32Array;
  zeroGrad(): void;
  begin(seqs: BackendSequence[]): void;
  /** Mean over the prompt positions of the hidden state entering the next layer. */
  meanHidden(seq: number, out?: Float32Array): Float32Array;
  /** One gate per sequence; exactly 0 skips the layer for that sequence. */
  forwardLayer(layer: number, gates: Float32Array): void;
  /** Mean cross-entropy over the batch's target positions, or per sequence then over sequences; prepares dL/dh_final. */
  loss(weighting?: LossWeighting): { loss: number; tokens: number };
  /**
   * dL/dg per sequence; propagates the gradient to the layer's input and accumulates LoRA gradients.
   * meanHiddenGrad (nSeq x d): gradient w.r.t. the mean prompt hidden state entering layer + 1
   * (the next router's input), added before propagating through this layer.
   */
  backwardLayer(layer: number, meanHiddenGrad?: Float32Array): Float32Array;
  end(): void;
}

/** The trainer's batch as the layer loop drives it (@first/core's driveLayers): gates go to forwardLayer. */
export function trainerStack(backend: TrainBackend): LayerStack {
  return {
    meanHidden: (row, out) => backend.meanHidden(row, out),
    runLayer: (layer, gates) => backend.forwardLayer(layer, gates),
  };
}
