// Drives the native engine layer by layer for a batch of sequences, each with
// its own set of executed layers. At layer l only the entries that execute l
// run; the others pass through untouched and never get KV blocks for l.
import type { NativeEngine } from "../native.js";
import type { LayerPlanner } from "./layer-plan.js";

export interface PrefillEntry {
  seq: number;
  tokens: Int32Array;
  planner: LayerPlanner;
}

export interface DecodeEntry {
  seq: number;
  token: number;
  /** executed[l] = true when the sequence runs layer l (fixed at prefill). */
  executed: boolean[];
}

export class BatchRunner {
  private readonly hidden: Float32Array;
  private logitsBuf: Float32Array;
  private readonly layerEntries: Int32Array;

  constructor(
    private readonly engine: NativeEngine,
    private readonly nLayers: number,
    dModel: number,
    private readonly vocab: number,
  ) {
    this.hidden = new Float32Array(dModel);
    this.logitsBuf = new Float32Array(vocab);
    this.layerEntries = new Int32Array(1024);
  }

  /**
   * Prefills each entry's prompt and decides its layers on the way.
   * Returns the executed-layer masks and the next-token logits (one row per
   * entry, a view valid until the next call).
   */
  prefill(entries: PrefillEntry[]): { executed: boolean[][]; logits: Float32Array } {
    for (const e of entries) if (e.planner.probe) this.probe(e);
    this.engine.beginBatch(entries.map((e) => ({ seq: e.seq, tokens: e.tokens })));
    const executed = entries.map(() => new Array<boolean>(this.nLayers).fill(false));
    for (let l = 0; l < this.nLayers; l++) {
      let n = 0;
      const run = this.entryBuffer(entries.length);
      for (let i = 0; i < entries.length; i++) {
        const p = entries[i].planner;
        const hidden = p.needsHidden(l) ? this.engine.meanHidden(i, this.hidden) : null;
        if (p.decide(l, hidden)) {
          executed[i][l] = true;
          run[n++] = i;
        }
      }
      if (n > 0) this.engine.runLayer(l, run.subarray(0, n));
    }
    return { executed, logits: this.finish(entries.length) };
  }

  /**
   * Passes an entry's prompt through every layer on a scratch sequence (freed
   * after), showing the planner the mean hidden state entering each layer, so
   * that it can rank the layers before the real prefill decides them.
   */
  private probe(e: PrefillEntry): void {
    const probe = e.planner.probe!;
    const scratch = this.engine.createSequence();
    try {
      this.engine.beginBatch([{ seq: scratch, tokens: e.tokens }]);
      const one = Int32Array.of(0);
      // Layers after the last routed one cannot change a decision.
      for (let l = 0; l <= probe.lastLayer; l++) {
        probe.observe(l, this.engine.meanHidden(0, this.hidden));
        if (l < probe.lastLayer) this.engine.runLayer(l, one);
      }
    } finally {
      this.engine.freeSequence(scratch);
    }
  }

  /** One decode step for every entry (one token each). */
  decode(entries: DecodeEntry[]): Float32Array {
    const tokens = entries.map((e) => ({ seq: e.seq, tokens: Int32Array.of(e.token) }));
    this.engine.beginBatch(tokens);
    const run = this.entryBuffer(entries.length);
    for (let l = 0; l < this.nLayers; l++) {
      let n = 0;
      for (let i = 0; i < entries.length; i++) if (entries[i].executed[l]) run[n++] = i;
      if (n > 0) this.engine.runLayer(l, run.subarray(0, n));
    }
    return this.finish(entries.length);
  }

  private finish(rows: number): Float32Array {
    if (this.logitsBuf.length < rows * this.vocab) this.logitsBuf = new Float32Array(rows * this.vocab);
    const out = this.engine.logits(true, this.logitsBuf);
    this.engine.commitBatch();
    return out.subarray(0, rows * this.vocab);
  }

  private entryBuffer(n: number): Int32Array {
    return n <= this.layerEntries.length ? this.layerEntries : new Int32Array(n);
  }
}
