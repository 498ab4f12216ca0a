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
      const row = logits.subarray(0, this.vocab);
      const token = sampler.sample(row, history);
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
      if (!this.emit(a, token, row)) this.active.push(a);
    } catch (err) {
      this.fail(req.id, err, seq);
    }
  }

  /** Sends a sampled token; returns true when the request has finished. */
  private emit(a: Active, token: number, row: Float32Array): boolean {
    a.history.push(token);
    a.generated++;
    a.next = token;
    if (a.req.topLogprobs === undefined) this.post({ type: "token", id: a.req.id, token });
    else this.post({ type: "token", id: a.req.id, token, ...tokenLogprobs(row, token, a.req.topLogprobs) });
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
      const row = logits.subarray(i * this.vocab, (i + 1) * this.vocab);
      const token = a.sampler.sample(row, a.history);
      if (this.emit(a, token, row)) done.push(a);
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

/** log softmax of the model's logits at `token`, and the `top` most likely tokens with theirs. */
export function tokenLogprobs(row: Float32Array, token: number, top: number): { logprob: number; top: [number, number][] } {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  const lse = max + Math.log(sum);
  const best: [number, number][] = [];
  if (top > 0) {
    // A small sorted list: top is at most 20.
    for (let i = 0; i < row.length; i++) {
      if (best.length === top && row[i] <= best[top - 1][1]) continue;
      let j = best.length < top ? best.length : top - 1;
      if (best.length < top) best.push([i, row[i]]);
      else best[j] = [i, row[i]];
      while (j > 0 && best[j][1] > best[j - 1][1]) {
        [best[j], best[j - 1]] = [best[j - 1], best[j]];
        j--;
      }
    }
  }
  return { logprob: row[token] - lse, top: best.map(([i, v]) => [i, v - lse]) };
}
