// The one layer loop: generation (prefill, the budget's probe, decode),
// scoring, Block Influence calibration and training all pass a batch through
// the decoder layers the same way. Per layer, each row gets a gate (0 skips
// the layer for that row, 1 runs it; the trainer also takes soft gates in
// between), decided from the mean hidden state entering the layer when the
// caller wants it; then the layer runs on the batch.
import type { NativeEngine } from "../native.js";

/** What a layer loop drives: the engine's current batch, or the trainer's. */
export interface LayerStack {
  /** Mean hidden state (over its new positions) of batch row `row`, entering the next layer. */
  meanHidden(row: number, out: Float32Array): Float32Array;
  /** Runs `layer` with one gate per row. */
  runLayer(layer: number, gates: Float32Array): void;
}

export interface LayerLoop {
  rows: number;
  /** Layers 0..layers-1 are visited. */
  layers: number;
  /** The gate of `row` at `layer`; `hidden()` reads the row's mean hidden state entering the layer. */
  gate(layer: number, row: number, hidden: () => Float32Array): number;
  /** Called after each layer ran (readers of the hidden states hook in here). */
  afterLayer?(layer: number): void;
}

/** Visits the layers in order: gates for every row, then the layer. */
export function driveLayers(stack: LayerStack, loop: LayerLoop, hidden: Float32Array, gates = new Float32Array(loop.rows)): void {
  if (gates.length < loop.rows) gates = new Float32Array(loop.rows);
  for (let l = 0; l < loop.layers; l++) {
    for (let i = 0; i < loop.rows; i++) gates[i] = loop.gate(l, i, () => stack.meanHidden(i, hidden));
    stack.runLayer(l, gates.subarray(0, loop.rows));
    loop.afterLayer?.(l);
  }
}

/**
 * The engine's current batch (after beginBatch) as a LayerStack: a layer runs
 * on the rows gated 1 and leaves the rows gated 0 untouched (they get no KV
 * blocks for it); a layer no row runs is not called at all.
 */
export function engineStack(engine: NativeEngine, rows: Int32Array = new Int32Array(64)): LayerStack {
  let buf = rows;
  return {
    meanHidden: (row, out) => engine.meanHidden(row, out),
    runLayer(layer, gates) {
      if (buf.length < gates.length) buf = new Int32Array(gates.length);
      let n = 0;
      for (let i = 0; i < gates.length; i++) {
        if (gates[i] === 1) buf[n++] = i;
        else if (gates[i] !== 0) throw new Error(`the engine takes gates of 0 or 1, got ${gates[i]} (layer ${layer}, row ${i})`);
      }
      if (n > 0) engine.runLayer(layer, buf.subarray(0, n));
    },
  };
}
