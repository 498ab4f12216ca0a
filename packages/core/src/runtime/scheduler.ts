// Continuous batching inside the engine worker: new requests are prefilled,
// then every active sequence advances one token per step in a single batched
// decode, each with its own fixed set of executed layers.
import { performance } from "node:perf_hooks";
import type { NativeEngine } from "../native.js";
import { Sampler } from "../sampling/index.js";
import { BatchRunner, type DecodeEntry } from "./batch-runner.js";
import { plannerFor } from "./layer-plan.js";
import type { FromWorker, GenerateRequest as WireGenerateRequest, Resolved } from "./protocol.js";

type GenerateRequest = Resolved<WireGenerateRequest>;

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
  preemptions: number; // times its KV blocks were taken back and recomputed
  waitFor: number; // preempted: resume once this many sequences have ended (see ended)
}

const isKvFull = (err: unknown) => (err as { code?: string })?.code === "KV_CAPACITY";

export class Scheduler {
  private readonly runner: BatchRunner;
  private readonly pending: GenerateRequest[] = [];
  // Preempted sequences (blocks freed), resumed before new requests start.
  private readonly preempted: Active[] = [];
  // Sequences ended so far: a preempted one waits until another ends (its blocks are the
  // room it needs); resuming at once would only be preempted again, and nobody would progress.
  private ended = 0;
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
      // Resume preempted sequences first, then start new requests, while the pool has room.
      while (this.preempted.length > 0 && (this.ended >= this.preempted[0].waitFor || this.active.length === 0) && this.resume(this.preempted[0]))
        this.preempted.shift();
      while (this.preempted.length === 0 && this.pending.length > 0 && this.prefill(this.pending[0])) this.pending.shift();
      if (this.active.length > 0) this.decodeStep();
      else if (this.preempted.length > 0 || this.pending.length > 0) this.failFirstWaiting();
    } catch (err) {
      // Errors are handled per request below; reaching here is a bug.
      for (const a of this.active.splice(0)) this.fail(a.req.id, err, a.seq);
    }
    if (this.pending.length > 0 || this.active.length > 0 || this.preempted.length > 0) setImmediate(() => this.loop());
    else this.running = false;
  }

  /**
   * Prefills a new request; false when the KV pool is full while other
   * sequences run (it waits for their blocks), true when it was handled.
   */
  private prefill(req: GenerateRequest): boolean {
    const cancel = new Int32Array(req.cancel);
    if (Atomics.load(cancel, 0) !== 0) {
      this.post({ type: "done", id: req.id, reason: "aborted", decodeMs: 0, decodeSteps: 0, batchPeak: 0 });
      return true;
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
        req, seq, sampler, cancel, history, generated: 0, executed: executed[0], next: token, decodeMs: 0, decodeSteps: 0, batchPeak: 0, preemptions: 0, waitFor: 0,
      };
      if (!this.emit(a, token, row)) this.active.push(a);
    } catch (err) {
      if (isKvFull(err) && this.active.length > 0) {
        this.free(seq);
        return false;
      }
      this.fail(req.id, err, seq);
    }
    return true;
  }

  /**
   * Recomputes a preempted sequence's cache (its prompt and the tokens it has
   * generated, through its own layers) and puts it back among the running;
   * false when the pool is still too full. Its sampler carries on as it was.
   */
  private resume(a: Active): boolean {
    if (Atomics.load(a.cancel, 0) !== 0) {
      this.post({ type: "done", id: a.req.id, reason: "aborted", decodeMs: a.decodeMs, decodeSteps: a.decodeSteps, batchPeak: a.batchPeak });
      return true;
    }
    let seq = -1;
    try {
      seq = this.engine.createSequence();
      // Every token but the last sampled one, which the next decode step feeds.
      const tokens = Int32Array.from(a.history.slice(0, -1));
      this.runner.prefill([{ seq, tokens, planner: plannerFor({ kind: "mask", executed: a.executed }, this.nLayers) }]);
      a.seq = seq;
      this.active.push(a);
    } catch (err) {
      if (isKvFull(err) && this.active.length > 0) {
        this.free(seq);
        return false;
      }
      this.fail(a.req.id, err, seq);
    }
    return true;
  }

  /** Nothing runs, yet the first waiting sequence does not fit: the pool is too small for it. */
  private failFirstWaiting(): void {
    const err = { message: "the KV cache cannot hold this sequence even alone", code: "KV_CAPACITY" };
    const a = this.preempted.shift();
    if (a) return this.fail(a.req.id, err, -1);
    const req = this.pending.shift();
    if (req) this.fail(req.id, err, -1);
  }

  private free(seq: number): void {
    if (seq < 0) return;
    try {
      this.engine.freeSequence(seq);
    } catch {
      // already freed
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
    this.ended++;
    this.post({ type: "done", id: a.req.id, reason, decodeMs: a.decodeMs, decodeSteps: a.decodeSteps, batchPeak: a.batchPeak, preemptions: a.preemptions });
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
      // Out of KV blocks: the youngest sequence gives its blocks back and is recomputed
      // later; the others retry next step. Any other error (or a lone sequence) fails it.
      const victim = this.active.pop()!;
      if (isKvFull(err) && this.active.length > 0) {
        this.free(victim.seq);
        victim.seq = -1;
        victim.preemptions++;
        victim.waitFor = this.ended + 1;
        this.preempted.unshift(victim);
        return;
      }
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
    this.ended++;
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
