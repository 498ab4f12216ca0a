// Drives the native engine layer by layer for a batch of sequences, each with
// its own set of executed layers. At layer l only the entries that execute l
// run; the others pass through untouched and never get KV blocks for l.
import type { NativeEngine } from "../native.js";
import type { LayerPlanner } from "./layer-plan.js";
import { driveLayers, engineStack, type LayerStack } from "./layer-loop.js";

export interface PrefillEntry {
  seq: number;
  tokens: Int32Array;
  planner: LayerPlanner;
  /** The engine adapter its rows take (absent: the engine's default). */
  adapter?: number;
}

export interface DecodeEntry {
  seq: number;
  token: number;
  /** Several tokens instead of `token` (a slice of a prompt prefilled in chunks); the logits row is its last position's. */
  tokens?: Int32Array;
  /** executed[l] = true when the sequence runs layer l (fixed at prefill). */
  executed: boolean[];
  adapter?: number;
}

export class BatchRunner {
  private readonly hidden: Float32Array;
  private logitsBuf: Float32Array;
  private readonly stack: LayerStack;
  private gates = new Float32Array(64);

  constructor(
    private readonly engine: NativeEngine,
    private readonly nLayers: number,
    dModel: number,
    private readonly vocab: number,
  ) {
    this.hidden = new Float32Array(dModel);
    this.logitsBuf = new Float32Array(vocab);
    this.stack = engineStack(engine);
  }

  /**
   * Prefills each entry's prompt and decides its layers on the way.
   * Returns the executed-layer masks and the next-token logits (one row per
   * entry, a view valid until the next call).
   */
  prefill(entries: PrefillEntry[]): { executed: boolean[][]; logits: Float32Array } {
    for (const e of entries) if (e.planner.probe) this.probe(e);
    this.engine.beginBatch(entries.map((e) => ({ seq: e.seq, tokens: e.tokens, adapter: e.adapter })));
    const executed = entries.map(() => new Array<boolean>(this.nLayers).fill(false));
    this.drive(entries.length, this.nLayers, (l, i, hidden) => {
      const p = entries[i].planner;
      executed[i][l] = p.decide(l, p.needsHidden(l) ? hidden() : null);
      return executed[i][l] ? 1 : 0;
    });
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
      this.engine.beginBatch([{ seq: scratch, tokens: e.tokens, adapter: e.adapter }]);
      // Layers after the last routed one cannot change a decision.
      this.drive(1, probe.lastLayer + 1, (l, _i, hidden) => {
        probe.observe(l, hidden());
        return l < probe.lastLayer ? 1 : 0;
      });
    } finally {
      this.engine.freeSequence(scratch);
    }
  }

  /** One step for every entry (one token each, or a prompt slice), each through its own layers. */
  decode(entries: DecodeEntry[]): Float32Array {
    const tokens = entries.map((e) => ({ seq: e.seq, tokens: e.tokens ?? Int32Array.of(e.token), adapter: e.adapter }));
    this.engine.beginBatch(tokens);
    this.drive(entries.length, this.nLayers, (l, i) => (entries[i].executed[l] ? 1 : 0));
    return this.finish(entries.length);
  }

  private finish(rows: number): Float32Array {
    if (this.logitsBuf.length < rows * this.vocab) this.logitsBuf = new Float32Array(rows * this.vocab);
    const out = this.engine.logits(true, this.logitsBuf);
    this.engine.commitBatch();
    return out.subarray(0, rows * this.vocab);
  }

  private drive(rows: number, layers: number, gate: (layer: number, row: number, hidden: () => Float32Array) => number): void {
    if (this.gates.length < rows) this.gates = new Float32Array(rows);
    driveLayers(this.stack, { rows, layers, gate }, this.hidden, this.gates);
  }
}
