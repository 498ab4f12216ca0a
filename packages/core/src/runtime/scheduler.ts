// Continuous batching inside the engine worker: new requests are prefilled,
// then every active sequence advances one token per step in a single batched
// decode, each with its own fixed set of executed layers.
import { performance } from "node:perf_hooks";
import type { NativeEngine } from "../native.js";
import { Sampler } from "../sampling/index.js";
import { BatchRunner, type DecodeEntry } from "./batch-runner.js";
import { plannerFor } from "./layer-plan.js";
import type { FromWorker, GenerateRequest } from "./protocol.js";

interface Active {
  req: GenerateRequest;
  seq: number;
  sampler: Sampler;
  cancel: Int32Array;
  history: number[];
  generated: number;
  executed: boolean[];
  next: number; // token to feed at the next decode step
  decodeMs: number;
  decodeSteps: number;
  batchPeak: number; // largest decode batch this request was part of
}

export class Scheduler {
  private readonly runner: BatchRunner;
  private readonly pending: GenerateRequest[] = [];
  private readonly active: Active[] = [];
  private running = false;

  constructor(
    private readonly engine: NativeEngine,
    private readonly nLayers: number,
    dModel: number,
    private readonly vocab: number,
    private readonly post: (msg: FromWorker) => void,
  ) {
    this.runner = new BatchRunner(engine, nLayers, dModel, vocab);
  }

  submit(req: GenerateRequest): void {
    this.pending.push(req);
    if (!this.running) {
      this.running = true;
      setImmediate(() => this.loop());
    }
  }

  // One step per macrotask, so new requests arrive between steps.
  private loop(): void {
    try {
      while (this.pending.length > 0) this.prefill(this.pending.shift()!);
      if (this.active.length > 0) this.decodeStep();
    } catch (err) {
      // Errors are handled per request below; reaching here is a bug.
      for (const a of this.active.splice(0)) this.fail(a.req.id, err, a.seq);
    }
    if (this.pending.length > 0 || this.active.length > 0) setImmediate(() => this.loop());
    else this.running = false;
  }

  private prefill(req: GenerateRequest): void {
    const cancel = new Int32Array(req.cancel);
    if (Atomics.load(cancel, 0) !== 0) {
      this.post({ type: "done", id: req.id, reason: "aborted", decodeMs: 0, decodeSteps: 0, batchPeak: 0 });
      return;
    }
    let seq = -1;
    try {
      const sampler = new Sampler(req.sampling);
      const planner = plannerFor(req.plan, this.nLayers);
      seq = this.engine.createSequence();
      const t0 = performance.now();
      const { executed, logits } = this.runner.prefill([{ seq, tokens: Int32Array.from(req.prompt), planner }]);
      const history = req.prompt.slice();
      const token = sampler.sample(logits.subarray(0, this.vocab), history);
      const prefillMs = performance.now() - t0;
      const kv = this.engine.kvStats(seq);
      this.post({
        type: "prefilled",
        id: req.id,
        executed: executed[0],
        probabilities: planner.probabilities ?? null,
        prefillMs,
        kvBlocks: kv.sequenceBlocks ?? 0,
        kvBytes: (kv.sequenceBlocks ?? 0) * kv.blockBytes,
      });
      const a: Active = {
        req, seq, sampler, cancel, history, generated: 0, executed: executed[0], next: token, decodeMs: 0, decodeSteps: 0, batchPeak: 0,
      };
      if (!this.emit(a, token)) this.active.push(a);
    } catch (err) {
      this.fail(req.id, err, seq);
    }
  }

  /** Sends a sampled token; returns true when the request has finished. */
  private emit(a: Active, token: number): boolean {
    a.history.push(token);
    a.generated++;
    a.next = token;
    this.post({ type: "token", id: a.req.id, token });
    let reason: "stop" | "length" | "aborted" | null = null;
    if (a.req.stopTokens.includes(token)) reason = "stop";
    else if (a.generated >= a.req.maxTokens) reason = "length";
    else if (Atomics.load(a.cancel, 0) !== 0) reason = "aborted";
    if (reason === null) return false;
    this.finish(a, reason);
    return true;
  }

  private finish(a: Active, reason: "stop" | "length" | "aborted"): void {
    this.engine.freeSequence(a.seq);
    this.post({ type: "done", id: a.req.id, reason, decodeMs: a.decodeMs, decodeSteps: a.decodeSteps, batchPeak: a.batchPeak });
  }

  private decodeStep(): void {
    // Drop cancelled requests before spending a step on them.
    for (let i = this.active.length - 1; i >= 0; i--) {
      if (Atomics.load(this.active[i].cancel, 0) !== 0) this.finish(this.active.splice(i, 1)[0], "aborted");
    }
    if (this.active.length === 0) return;
    const entries: DecodeEntry[] = this.active.map((a) => ({ seq: a.seq, token: a.next, executed: a.executed }));
    const t0 = performance.now();
    let logits: Float32Array;
    try {
      logits = this.runner.decode(entries);
    } catch (err) {
      // Out of KV blocks (or context): fail the youngest request; the others retry next step.
      const victim = this.active.pop()!;
      this.fail(victim.req.id, err, victim.seq);
      return;
    }
    const ms = performance.now() - t0;
    const done: Active[] = [];
    this.active.forEach((a, i) => {
      a.decodeMs += ms;
      a.decodeSteps++;
      a.batchPeak = Math.max(a.batchPeak, entries.length);
      const token = a.sampler.sample(logits.subarray(i * this.vocab, (i + 1) * this.vocab), a.history);
      if (this.emit(a, token)) done.push(a);
    });
    for (const a of done) this.active.splice(this.active.indexOf(a), 1);
  }

  private fail(id: number, err: unknown, seq: number): void {
    if (seq >= 0) {
      try {
        this.engine.freeSequence(seq);
      } catch {
        // already freed
      }
    }
    const e = err as { message?: string; code?: string };
    this.post({ type: "error", id, message: e?.message ?? String(err), code: e?.code });
  }
}
