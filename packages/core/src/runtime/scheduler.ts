// Continuous batching inside the engine worker: new requests are prefilled,
// then every active sequence advances one token per step in a single batched
// decode, each with its own fixed set of executed layers. A long prompt whose
// layers are known up front is prefilled a chunk per step, in the same batch
// as the decode of the running sequences, so they keep streaming meanwhile.
import { performance } from "node:perf_hooks";
import type { NativeEngine } from "../native.js";
import { Sampler } from "../sampling/index.js";
import { BatchRunner, type DecodeEntry } from "./batch-runner.js";
import { plannerFor, type LayerPlanner } from "./layer-plan.js";
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

/** A prompt being prefilled a chunk per step. */
interface Chunked {
  req: GenerateRequest;
  seq: number;
  sampler: Sampler;
  cancel: Int32Array;
  executed: boolean[];
  probabilities: (number | null)[] | null;
  offset: number; // prompt tokens prefilled so far
  t0: number;
}

const DEFAULT_PREFILL_CHUNK = 64;
// Prompts prefilled together in one engine batch: at most this many, with this many tokens in all.
const MAX_PREFILL_BATCH = 16;
const PREFILL_BATCH_TOKENS = 512;
const MIN_SHARED_SLICE = 8;

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
  private chunked: Chunked | null = null;
  // A chunked prefill that ran out of KV blocks starts again once this many sequences have ended.
  private chunkWaitFor = 0;
  private readonly prefillChunk: number;

  constructor(
    private readonly engine: NativeEngine,
    private readonly nLayers: number,
    dModel: number,
    private readonly vocab: number,
    private readonly post: (msg: FromWorker) => void,
    prefillChunk = DEFAULT_PREFILL_CHUNK,
  ) {
    this.runner = new BatchRunner(engine, nLayers, dModel, vocab);
    if (!Number.isInteger(prefillChunk) || prefillChunk < 0) throw new Error(`prefillChunk must be an integer >= 0, got ${prefillChunk}`);
    this.prefillChunk = prefillChunk;
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
      const mayStart = () => this.chunked === null && (this.ended >= this.chunkWaitFor || this.active.length === 0);
      while (this.preempted.length === 0 && this.pending.length > 0 && mayStart() && this.prefillFront());
      if (this.active.length > 0 || this.chunked !== null) this.decodeStep();
      else if (this.preempted.length > 0 || this.pending.length > 0) this.failFirstWaiting();
    } catch (err) {
      // Errors are handled per request below; reaching here is a bug.
      for (const a of this.active.splice(0)) this.fail(a.req.id, err, a.seq);
    }
    if (this.pending.length > 0 || this.active.length > 0 || this.preempted.length > 0 || this.chunked !== null) setImmediate(() => this.loop());
    else this.running = false;
  }

  /**
   * Prefills the requests at the front of the queue, removing those it
   * handled: prompts that prefill whole go together in one engine batch (up
   * to PREFILL_BATCH_TOKENS tokens), each with its own layers. False when the
   * KV pool is full while other sequences run (they wait for its blocks).
   */
  private prefillFront(): boolean {
    const group = this.groupAtFront();
    if (group.length > 1) {
      const seqs: number[] = [];
      const t0 = performance.now();
      let out: { executed: boolean[][]; logits: Float32Array } | null = null;
      try {
        for (let i = 0; i < group.length; i++) seqs.push(this.engine.createSequence());
        out = this.runner.prefill(
          group.map((g, i) => ({ seq: seqs[i], tokens: Int32Array.from(g.req.prompt), planner: g.planner, adapter: g.req.adapter })),
        );
      } catch {
        // One at a time then: that path tells who waits for blocks and who fails.
        for (const seq of seqs) this.free(seq);
      }
      if (out !== null) {
        const { executed, logits } = out;
        this.pending.splice(0, group.length);
        group.forEach((g, i) => {
          const c: Chunked = { ...g, seq: seqs[i], executed: executed[i], probabilities: g.planner.probabilities ?? null, offset: g.req.prompt.length, t0 };
          this.started(c, logits.subarray(i * this.vocab, (i + 1) * this.vocab));
        });
        return true;
      }
    }
    if (!this.prefill(this.pending[0])) return false;
    this.pending.shift();
    return true;
  }

  /** The queue's first requests that can prefill together (none forks another's blocks or is sliced). */
  private groupAtFront(): { req: GenerateRequest; sampler: Sampler; cancel: Int32Array; planner: LayerPlanner }[] {
    const group: { req: GenerateRequest; sampler: Sampler; cancel: Int32Array; planner: LayerPlanner }[] = [];
    let tokens = 0;
    for (const req of this.pending) {
      if (group.length === MAX_PREFILL_BATCH || tokens + req.prompt.length > PREFILL_BATCH_TOKENS) break;
      const cancel = new Int32Array(req.cancel);
      if (req.forkOf !== undefined || Atomics.load(cancel, 0) !== 0) break;
      let planner: LayerPlanner, sampler: Sampler;
      try {
        planner = plannerFor(req.plan, this.nLayers);
        sampler = new Sampler(req.sampling);
      } catch {
        break;
      }
      if (this.prefillChunk > 0 && req.prompt.length > this.prefillChunk && layersKnownUpFront(planner, this.nLayers)) break;
      group.push({ req, sampler, cancel, planner });
      tokens += req.prompt.length;
    }
    return group;
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
      if (this.prefillChunk > 0 && req.prompt.length > this.prefillChunk && layersKnownUpFront(planner, this.nLayers)) {
        const executed = Array.from({ length: this.nLayers }, (_, l) => planner.decide(l, null));
        this.chunked = { req, seq, sampler, cancel, executed, probabilities: planner.probabilities ?? null, offset: 0, t0 };
        return true;
      }
      const { executed, logits } = this.runner.prefill([{ seq, tokens: Int32Array.from(req.prompt), planner, adapter: req.adapter }]);
      this.started({ req, seq, sampler, cancel, executed: executed[0], probabilities: planner.probabilities ?? null, offset: req.prompt.length, t0 }, logits.subarray(0, this.vocab));
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
      this.runner.prefill([{ seq, tokens, planner: plannerFor({ kind: "mask", executed: a.executed }, this.nLayers), adapter: a.req.adapter }]);
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
    const c = this.chunked;
    if (c !== null && Atomics.load(c.cancel, 0) !== 0) {
      this.chunked = null;
      this.free(c.seq);
      this.ended++;
      this.post({ type: "done", id: c.req.id, reason: "aborted", decodeMs: 0, decodeSteps: 0, batchPeak: 0 });
      return this.decodeStep();
    }
    if (this.active.length === 0 && this.chunked === null) return;
    const entries: DecodeEntry[] = this.active.map((a) => ({ seq: a.seq, token: a.next, executed: a.executed, adapter: a.req.adapter }));
    // The next slice of a chunked prefill rides along (the batch's last entry).
    let chunkEnd = 0;
    if (c !== null) {
      // Alone, a full slice; beside running sequences, about as many prompt tokens as
      // they decode rows (at least 8), so a step costs at most about twice a plain one.
      const slice = this.active.length === 0 ? this.prefillChunk : Math.min(this.prefillChunk, Math.max(MIN_SHARED_SLICE, this.active.length));
      chunkEnd = Math.min(c.req.prompt.length, c.offset + slice);
      entries.push({ seq: c.seq, token: 0, tokens: Int32Array.from(c.req.prompt.slice(c.offset, chunkEnd)), executed: c.executed, adapter: c.req.adapter });
    }
    const t0 = performance.now();
    let logits: Float32Array;
    try {
      logits = this.runner.decode(entries);
    } catch (err) {
      if (c !== null && (!isKvFull(err) || this.active.length === 0)) {
        // The prefill's own failure (or a pool too small for it alone): it fails, the others go on.
        this.chunked = null;
        this.fail(c.req.id, err, c.seq);
        return this.active.length > 0 ? this.decodeStep() : undefined;
      }
      if (c !== null) {
        // Out of KV blocks: the prefill in progress gives way (blocks freed, started again
        // once another sequence has ended) and the running sequences take this step.
        this.chunked = null;
        this.free(c.seq);
        this.chunkWaitFor = this.ended + 1;
        this.pending.unshift(c.req);
        return this.decodeStep();
      }
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
    if (c !== null) {
      if (chunkEnd < c.req.prompt.length) c.offset = chunkEnd;
      else this.finishChunked(c, logits.subarray((entries.length - 1) * this.vocab, entries.length * this.vocab));
    }
  }

  /** The last slice of a chunked prefill ran: its first token is sampled and it decodes with the others from now on. */
  private finishChunked(c: Chunked, row: Float32Array): void {
    this.chunked = null;
    this.started(c, row);
  }

  /**
   * A prompt is prefilled (`row`: its next-token logits): the other choices of
   * the same prompt waiting behind it fork its blocks, then each samples its
   * first token with its own sampler and joins the running sequences.
   */
  private started(p: Chunked, row: Float32Array): void {
    const forks: { req: GenerateRequest; seq: number }[] = [];
    for (let i = 0; i < this.pending.length; ) {
      const r = this.pending[i];
      if (r.forkOf !== p.req.id || r.adapter !== p.req.adapter) {
        i++;
        continue;
      }
      this.pending.splice(i, 1);
      if (Atomics.load(new Int32Array(r.cancel), 0) !== 0) {
        this.post({ type: "done", id: r.id, reason: "aborted", decodeMs: 0, decodeSteps: 0, batchPeak: 0 });
        continue;
      }
      forks.push({ req: r, seq: this.engine.forkSequence(p.seq) });
    }
    // Samplers may change the row they read: each choice gets its own copy.
    const rows = forks.map(() => Float32Array.from(row));
    this.join(p.req, p.seq, p.sampler, p.cancel, p.executed, p.probabilities, p.t0, row);
    forks.forEach((f, i) => {
      const cancel = new Int32Array(f.req.cancel);
      this.join(f.req, f.seq, new Sampler(f.req.sampling), cancel, p.executed.slice(), p.probabilities, p.t0, rows[i]);
    });
  }

  private join(
    req: GenerateRequest, seq: number, sampler: Sampler, cancel: Int32Array, executed: boolean[],
    probabilities: (number | null)[] | null, t0: number, row: Float32Array,
  ): void {
    const history = req.prompt.slice();
    const token = sampler.sample(row, history);
    const kv = this.engine.kvStats(seq);
    this.post({
      type: "prefilled",
      id: req.id,
      executed,
      probabilities,
      prefillMs: performance.now() - t0,
      kvBlocks: kv.sequenceBlocks ?? 0,
      kvBytes: (kv.sequenceBlocks ?? 0) * kv.blockBytes,
    });
    const a: Active = {
      req, seq, sampler, cancel, history, generated: 0, executed, next: token, decodeMs: 0, decodeSteps: 0, batchPeak: 0, preemptions: 0, waitFor: 0,
    };
    if (!this.emit(a, token, row)) this.active.push(a);
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

/** Whether the plan's layers are decided without looking at the prompt's hidden states (so it can be prefilled in slices). */
function layersKnownUpFront(planner: ReturnType<typeof plannerFor>, nLayers: number): boolean {
  if (planner.probe !== undefined) return false;
  for (let l = 0; l < nLayers; l++) if (planner.needsHidden(l)) return false;
  return true;
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
