// generate() through the public API on tiny random models: streaming, abort,
// stop strings, seeds, limits, errors, KV exhaustion and recovery, concurrent
// requests, and an event loop that keeps running while tokens are generated.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../src/gguf/tiny-model.js";
import type { GenerationResult, LoadedModel } from "../src/index.js";
import { core } from "./support/engine.js";

const dir = mkdtempSync(join(tmpdir(), "first-generate-"));
const small = makeTinyLlama(join(dir, "tiny.gguf"), { seed: 5, weightType: "Q8_0" });
// Bigger, so that a generation lasts long enough to watch the event loop.
const larger = makeTinyLlama(join(dir, "larger.gguf"), { seed: 6, weightType: "F32", dim: 256, heads: 8, kvHeads: 4, ffn: 768, layers: 8 });

let lib: Awaited<ReturnType<typeof core>>;
let model: LoadedModel;
let slow: LoadedModel;

beforeAll(async () => {
  lib = await core();
  model = await lib.loadModel(small.path, { threads: 1, contextLength: 64, maxSequences: 4 });
  slow = await lib.loadModel(larger.path, { threads: 1, contextLength: 256, maxSequences: 1 });
});
afterAll(async () => {
  await model?.close();
  await slow?.close();
  rmSync(dir, { recursive: true, force: true });
});

const PROMPT = "hello world and the";
/** Random token ids without special tokens. */
const ids = (n: number, seed = 1) => Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + seed * 104729) % (small.vocabSize - 3)));

describe("generate", () => {
  it("streams chunks that concatenate to the result text", async () => {
    const gen = model.generate(PROMPT, { temperature: 0, maxTokens: 24 });
    const chunks: string[] = [];
    const tokens: number[] = [];
    for await (const c of gen) {
      chunks.push(c.text);
      if (c.token >= 0) tokens.push(c.token);
    }
    const r = await gen.result;
    expect(chunks.join("")).toBe(r.text);
    expect(tokens).toEqual(r.tokens);
    expect(r.promptTokenIds).toEqual(model.tokenize(PROMPT));
    expect(r.text).toBe(model.detokenize(r.tokens));
    expect(r.executedLayers).toBe(small.layers);
    expect(r.skippedLayers).toEqual([]);
  });

  it("reports each token's log-probability, equal to scoring the same continuation, with the top alternatives", async () => {
    const r = await model.generate({ tokens: ids(6) }, { temperature: 0, maxTokens: 8, logprobs: 3 }).result;
    const lp = r.logprobs!;
    expect(lp.map((x) => x.token)).toEqual(r.tokens);
    const scored = await model.scoreTokens(ids(6), r.tokens);
    for (let i = 0; i < lp.length; i++) {
      expect(lp[i].logprob).toBeCloseTo(scored.logprobs[i], 3);
      expect(lp[i].top).toHaveLength(3);
      // Greedy: the token is the most likely, and the list is sorted.
      expect(lp[i].top[0].token).toBe(lp[i].token);
      expect(lp[i].top[0].logprob).toBeGreaterThanOrEqual(lp[i].top[1].logprob);
      expect(lp[i].top[1].logprob).toBeGreaterThanOrEqual(lp[i].top[2].logprob);
      expect(Math.exp(lp[i].top[0].logprob) + Math.exp(lp[i].top[1].logprob) + Math.exp(lp[i].top[2].logprob)).toBeLessThanOrEqual(1 + 1e-6);
    }
    // The chunks carry the same values; without the option there are none.
    const chunks = [];
    for await (const c of model.generate({ tokens: ids(6) }, { temperature: 0, maxTokens: 8, logprobs: 0 })) chunks.push(c);
    expect(chunks.flatMap((c) => (c.logprob ? [c.logprob.logprob] : []))).toEqual(lp.map((x) => x.logprob));
    expect(chunks.every((c) => c.logprob?.top.length === 0)).toBe(true);
    expect((await model.generate({ tokens: ids(6) }, { temperature: 0, maxTokens: 2 }).result).logprobs).toBeUndefined();
    expect(() => model.generate("x", { logprobs: 21 })).toThrow(/logprobs/);
  });

  it("honours maxTokens and reports finishReason length", async () => {
    for (const maxTokens of [1, 5, 17]) {
      const r = await model.generate({ tokens: ids(8) }, { temperature: 0, maxTokens }).result;
      expect(r.tokens.length).toBeLessThanOrEqual(maxTokens);
      if (r.tokens.length === maxTokens) expect(r.finishReason).toBe("length");
      else expect(r.finishReason).toBe("stop"); // an end-of-text token came first
    }
  });

  it("with ignoreEos generates past an end-of-text token to maxTokens", async () => {
    // A prompt whose greedy continuation this tiny model ends early.
    let seed = 1;
    let ended: GenerationResult | undefined;
    for (; seed < 200 && !ended; seed++) {
      const r = await model.generate({ tokens: ids(8, seed) }, { temperature: 0, maxTokens: 12 }).result;
      if (r.finishReason === "stop") ended = r;
    }
    expect(ended, "no prompt among 200 ended early").toBeDefined();
    const r = await model.generate({ tokens: ids(8, seed - 1) }, { temperature: 0, maxTokens: 12, ignoreEos: true }).result;
    expect(r.finishReason).toBe("length");
    expect(r.tokens).toHaveLength(12);
    // The same tokens up to where the other one stopped, then its end of text.
    expect(r.tokens.slice(0, ended!.tokens.length)).toEqual(ended!.tokens);
    expect(r.timings.decodeTokensPerSecond).toBeGreaterThan(0);
  });

  it("cuts the text before a stop string and reports finishReason stop", async () => {
    const full = await model.generate({ tokens: ids(6, 2) }, { temperature: 0, maxTokens: 40 }).result;
    expect(full.text.length).toBeGreaterThan(6);
    // A stop string taken from the middle of what greedy decoding produces.
    const at = Math.floor(full.text.length / 2);
    const stop = full.text.slice(at, at + 2);
    const cut = full.text.indexOf(stop);
    const gen = model.generate({ tokens: ids(6, 2) }, { temperature: 0, maxTokens: 40, stop: [stop] });
    let streamed = "";
    for await (const c of gen) streamed += c.text;
    const r = await gen.result;
    expect(r.finishReason).toBe("stop");
    expect(r.text).toBe(full.text.slice(0, cut));
    expect(streamed).toBe(r.text);
    expect(r.text).not.toContain(stop);
  });

  it("gives the same tokens for the same seed and usually different ones for other seeds", async () => {
    const sample = (seed: number) =>
      model.generate({ tokens: ids(5, 3) }, { temperature: 0.8, seed, maxTokens: 16 }).result.then((r) => r.tokens);
    const a = await sample(42);
    expect(await sample(42)).toEqual(a);
    const others = await Promise.all([1, 2, 3, 4, 5].map(sample));
    expect(others.some((o) => o.join() !== a.join())).toBe(true);
  });

  it("stops on an AbortSignal: the result and the stream reject with AbortedError", async () => {
    const before = new AbortController();
    before.abort();
    const early = model.generate(PROMPT, { maxTokens: 40, signal: before.signal });
    await expect(early.result).rejects.toBeInstanceOf(lib.AbortedError);

    // Mid-stream, on the larger model: the small one can finish before the abort arrives.
    const controller = new AbortController();
    const gen = slow.generate({ tokens: ids(4) }, { temperature: 0, maxTokens: 200, signal: controller.signal });
    let seen = 0;
    const consume = (async () => {
      for await (const c of gen) if (c.token >= 0 && ++seen === 2) controller.abort();
    })();
    await expect(consume).rejects.toMatchObject({ code: "ABORTED" });
    await expect(gen.result).rejects.toBeInstanceOf(lib.AbortedError);
    expect(seen).toBeLessThan(200);
    // The model serves the next request.
    const next = await slow.generate(PROMPT, { temperature: 0, maxTokens: 3 }).result;
    expect(next.tokens.length).toBeGreaterThan(0);
  });

  it("rejects a prompt that does not fit the context with ContextLengthError", () => {
    expect(() => model.generate({ tokens: ids(64) }, { maxTokens: 1 })).toThrow(lib.ContextLengthError);
    expect(() => model.generate({ tokens: ids(100) })).toThrow(/context/);
    // Fits: the generation is clipped to the context left.
    return model.generate({ tokens: ids(60) }, { temperature: 0, maxTokens: 50 }).result.then((r) => {
      expect(r.tokens.length).toBeLessThanOrEqual(4);
    });
  });

  it("rejects invalid options with InvalidOptionError naming the option", () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ temperature: -1 }, "temperature"],
      [{ temperature: Number.NaN }, "temperature"],
      [{ topP: 1.5 }, "topP"],
      [{ topK: -3 }, "topK"],
      [{ minP: 2 }, "minP"],
      [{ repeatPenalty: -1 }, "repeatPenalty"],
      [{ maxTokens: 0 }, "maxTokens"],
      [{ maxTokens: 2.5 }, "maxTokens"],
      [{ stop: [""] }, "stop"],
      [{ ignoreEos: "yes" }, "ignoreEos"],
    ];
    for (const [options, name] of bad) {
      let error: unknown;
      try {
        model.generate(PROMPT, options);
      } catch (err) {
        error = err;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(lib.InvalidOptionError);
      expect((error as InstanceType<typeof lib.InvalidOptionError>).option).toBe(name);
    }
    expect(() => model.generate({ tokens: [] })).toThrow(lib.FirstError);
  });

  it("batches concurrent requests and gives each the tokens it gets alone", async () => {
    const prompts = [ids(9, 4), ids(3, 5), ids(14, 6), ids(6, 7)];
    const alone: GenerationResult[] = [];
    for (const p of prompts) alone.push(await model.generate({ tokens: p }, { temperature: 0, maxTokens: 20 }).result);
    const together = await Promise.all(prompts.map((p) => model.generate({ tokens: p }, { temperature: 0, maxTokens: 20 }).result));
    expect(together.map((r) => r.tokens)).toEqual(alone.map((r) => r.tokens));
    expect(together.map((r) => r.text)).toEqual(alone.map((r) => r.text));
  });
});

describe("generate with a small KV cache", () => {
  let tight: LoadedModel;
  // 4 layers x 2 blocks of 4 positions: room for 8 positions of one sequence.
  beforeAll(async () => {
    tight = await lib.loadModel(small.path, { threads: 1, contextLength: 64, blockTokens: 4, kvBlocks: 8, maxSequences: 1 });
  });
  afterAll(async () => {
    await tight?.close();
  });

  it("fails a prompt that does not fit with KvCapacityError and keeps working", async () => {
    const gen = tight.generate({ tokens: ids(20) }, { temperature: 0, maxTokens: 2 });
    const err = await gen.result.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(lib.KvCapacityError);
    expect((err as Error).message).toMatch(/KV|cache|block/i);
    const ok = await tight.generate({ tokens: ids(4) }, { temperature: 0, maxTokens: 3 }).result;
    expect(ok.tokens.length + (ok.finishReason === "stop" ? 1 : 0)).toBeGreaterThan(0);
  });

  it("fails a generation that outgrows the cache mid-way and keeps working", async () => {
    const gen = tight.generate({ tokens: ids(5, 2) }, { temperature: 0, maxTokens: 30 });
    let streamed = 0;
    const consume = (async () => {
      for await (const c of gen) if (c.token >= 0) streamed++;
    })();
    await expect(consume).rejects.toBeInstanceOf(lib.KvCapacityError);
    await expect(gen.result).rejects.toThrow(/KV|cache|block/i);
    expect(streamed).toBeGreaterThan(0);
    expect(streamed).toBeLessThan(30);
    const ok = await tight.generate({ tokens: ids(3, 3) }, { temperature: 0, maxTokens: 4 }).result;
    expect(ok.promptTokenIds).toHaveLength(3);
  });
});

describe("generate when the KV pool runs out with several sequences", () => {
  it("preempts the youngest and recomputes it later: every sequence finishes with its solo tokens", async () => {
    // 4 layers x 20 blocks of 4 positions: two sequences of 6 + 24 positions fit, three do not.
    const shared = await lib.loadModel(small.path, { threads: 1, contextLength: 64, blockTokens: 4, kvBlocks: 72, maxSequences: 3 });
    const roomy = await lib.loadModel(small.path, { threads: 1, contextLength: 64, maxSequences: 1 });
    try {
      const prompts = [ids(6, 4), ids(6, 5), ids(6, 6)];
      // Greedy: a recomputed cache matches the one built token by token to float rounding, not bit for bit.
      const opts = (_i: number) => ({ temperature: 0, maxTokens: 24 });
      const together = await Promise.all(prompts.map((p, i) => shared.generate({ tokens: p }, opts(i)).result));
      for (let i = 0; i < 3; i++) {
        const solo = await roomy.generate({ tokens: prompts[i] }, opts(i)).result;
        expect(together[i].tokens).toEqual(solo.tokens);
      }
      expect(together.reduce((a, r) => a + r.preemptions, 0)).toBeGreaterThan(0);
      expect((await shared.kvStats()).usedBlocks).toBe(0);
    } finally {
      await shared.close();
      await roomy.close();
    }
  });
});

describe("choices of one prompt (n)", () => {
  it("prefill once and fork the prompt's blocks; greedy choices equal a single generation, seeded ones their own seed's", async () => {
    const m = await lib.loadModel(small.path, { threads: 1, contextLength: 96, maxSequences: 4, blockTokens: 4 });
    try {
      const prompt = ids(40, 7);
      const solo = await m.generate({ tokens: prompt }, { temperature: 0, maxTokens: 12 }).result;
      const gens = m.generateChoices({ tokens: prompt }, 3, { temperature: 0, maxTokens: 12 });
      // After every choice's first token, the prompt's 10 blocks per layer are held once, not three times.
      const firsts = gens.map((g) => g[Symbol.asyncIterator]().next());
      await Promise.all(firsts);
      const used = (await m.kvStats()).usedBlocks;
      expect(used).toBeLessThan(2 * 10 * small.layers);
      const results = await Promise.all(gens.map((g) => g.result));
      for (const r of results) expect(r.tokens).toEqual(solo.tokens);
      const seeded = await Promise.all(m.generateChoices({ tokens: prompt }, 2, { temperature: 1, seed: 40, maxTokens: 12 }).map((g) => g.result));
      const alone = await m.generate({ tokens: prompt }, { temperature: 1, seed: 41, maxTokens: 12 }).result;
      expect(seeded[1].tokens).toEqual(alone.tokens);
      expect((await m.kvStats()).usedBlocks).toBe(0);
      expect(() => m.generateChoices("x", 0)).toThrow(/n/);
    } finally {
      await m.close();
    }
  });
});

describe("chunked prefill", () => {
  it("prefills a long prompt a chunk per step beside running streams, with the tokens of a whole prefill", async () => {
    const opts = { threads: 1, contextLength: 96, maxSequences: 2 };
    const whole = await lib.loadModel(small.path, { ...opts, prefillChunk: 0 });
    const chunked = await lib.loadModel(small.path, { ...opts, prefillChunk: 8 });
    try {
      const long = ids(41, 3);
      const ref = await whole.generate({ tokens: long }, { temperature: 0, maxTokens: 6, logprobs: 0 }).result;
      // A stream decodes; the long prompt arrives once it has two tokens.
      const running = chunked.generate({ tokens: ids(5, 4) }, { temperature: 0, maxTokens: 40 });
      const arrivals: string[] = [];
      let second: Promise<GenerationResult> | undefined;
      const consumeRunning = (async () => {
        let n = 0;
        for await (const _ of running) {
          arrivals.push("running");
          if (++n === 2) {
            const gen = chunked.generate({ tokens: long }, { temperature: 0, maxTokens: 6, logprobs: 0 });
            second = gen.result;
            (async () => {
              for await (const _c of gen) arrivals.push("long");
            })();
          }
        }
      })();
      await consumeRunning;
      const r = await second!;
      expect(r.tokens).toEqual(ref.tokens);
      for (let i = 0; i < r.tokens.length; i++) expect(r.logprobs![i].logprob).toBeCloseTo(ref.logprobs![i].logprob, 4);
      // 41 tokens in slices of 8: 6 steps, in which the running stream kept getting tokens.
      const firstLong = arrivals.indexOf("long");
      expect(firstLong).toBeGreaterThan(0);
      expect(arrivals.slice(2, firstLong).filter((a) => a === "running").length).toBeGreaterThanOrEqual(5);
      // Routers decide from the whole prompt: their prompts are not sliced, and still right.
      expect((await chunked.kvStats()).usedBlocks).toBe(0);
    } finally {
      await whole.close();
      await chunked.close();
    }
  });

  it("a cancelled chunked prefill frees its blocks", async () => {
    // One-token chunks and room to decode, so that the abort (a turn of the
    // event loop later) lands while the request still runs: with 4-token
    // chunks and 4 tokens to decode the tiny model sometimes finished first.
    const chunked = await lib.loadModel(small.path, { threads: 1, contextLength: 96, maxSequences: 2, prefillChunk: 1 });
    try {
      const ac = new AbortController();
      const gen = chunked.generate({ tokens: ids(60, 5) }, { temperature: 0, maxTokens: 30, signal: ac.signal });
      setImmediate(() => ac.abort());
      await expect(gen.result).rejects.toThrow();
      expect((await chunked.kvStats()).usedBlocks).toBe(0);
      const after = await chunked.generate({ tokens: ids(60, 5) }, { temperature: 0, maxTokens: 4 }).result;
      expect(after.tokens).toHaveLength(4);
    } finally {
      await chunked.close();
    }
  });
});

describe("event loop", () => {
  it("keeps ticking while a generation runs", async () => {
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 5);
    const t0 = performance.now();
    const r = await slow.generate({ tokens: ids(8) }, { temperature: 0, maxTokens: 200 }).result;
    const t1 = performance.now();
    clearInterval(timer);
    const during = ticks.filter((t) => t >= t0 && t <= t1);
    const gaps = during.slice(1).map((t, i) => t - during[i]);
    console.log(`generation of ${r.tokens.length} tokens: ${(t1 - t0).toFixed(0)} ms, ${during.length} ticks, longest gap ${Math.max(0, ...gaps).toFixed(1)} ms`);
    expect(t1 - t0).toBeGreaterThan(50);
    expect(during.length).toBeGreaterThan((t1 - t0) / 5 / 4);
    expect(Math.max(0, ...gaps)).toBeLessThan(250);
  });
});
