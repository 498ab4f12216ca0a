// The whole forward pass on small shapes: tiny random llama models in every
// weight type, run through our engine and through llama.cpp. Then engine-only
// checks: sequences batched together decode exactly as each alone, and a
// copy-on-write fork continues exactly as a fresh sequence would.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GgufTensorType } from "../src/gguf/quantize.js";
import { makeTinyLlama, type TinyLlamaInfo, type TinyLlamaOptions } from "../src/gguf/tiny-model.js";
import { argmax, compareWithPeer, DirectEngine, randomIds } from "./support/engine.js";

const dir = mkdtempSync(join(tmpdir(), "first-tiny-vs-llama-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PROMPT_LENGTH = 20;
const CONTINUATION = 16;


interface Case {
  name: string;
  options: TinyLlamaOptions;
  /** Bound on |our log p - llama.cpp's log p| over the vocabulary. */
  bound: number;
}

// llama.cpp runs without flash attention and with an F32 KV cache, so it
// computes in float32 as we do. Quantized types round activations to 8 bits
// the same way on both sides (ggml's Q8_0/Q8_1), so they agree about as
// closely as F32. llama.cpp rounds activations to F16/BF16 for F16/BF16
// weights; we keep them in float32: looser bounds there.
const CASES: Case[] = [
  { name: "F32", options: { weightType: "F32" }, bound: 1e-4 },
  { name: "F32 tied output", options: { weightType: "F32", tiedOutput: true }, bound: 1e-4 },
  { name: "F16", options: { weightType: "F16" }, bound: 1e-2 },
  { name: "BF16", options: { weightType: "BF16" }, bound: 5e-2 },
  { name: "Q8_0", options: { weightType: "Q8_0" }, bound: 1e-4 },
  { name: "Q4_0", options: { weightType: "Q4_0" }, bound: 1e-4 },
  { name: "Q4_1", options: { weightType: "Q4_1" }, bound: 1e-4 },
  { name: "Q4_1 tied output, Q8_0 embedding", options: { weightType: "Q4_1", embeddingType: "Q8_0", tiedOutput: true }, bound: 1e-4 },
];

describe("tiny llama models: our engine vs llama.cpp", () => {
  const summary: string[] = [];
  afterAll(() => console.log(["type                              max|d log p|  bound   greedy", ...summary].join("\n")));

  for (const c of CASES) {
    it(`${c.name}: next-token log-probabilities and a ${CONTINUATION}-token greedy continuation agree`, async () => {
      const file = join(dir, `tiny-${c.name.replace(/[^A-Za-z0-9]+/g, "-")}.gguf`);
      const info = makeTinyLlama(file, { seed: 7, ...c.options });
      const ids = randomIds(PROMPT_LENGTH, info.vocabSize, 11);
      const { mine, theirs, maxDiff: diff, ours: a, peers: b } = await compareWithPeer(file, ids, CONTINUATION);
      summary.push(`${c.name.padEnd(34)}${diff.toExponential(2).padStart(12)}  ${c.bound.toExponential(0)}  ${a.join(",") === b.join(",") ? "same" : "DIFF"}`);
      expect(theirs.length).toBe(mine.length);
      expect(argmax(mine)).toBe(argmax(theirs));
      expect(diff).toBeLessThan(c.bound);
      expect(a).toEqual(b);
    });
  }
});

describe("tiny llama model: batching and forks in our engine", () => {
  let info: TinyLlamaInfo;
  let direct: DirectEngine;

  beforeAll(() => {
    info = makeTinyLlama(join(dir, "tiny-q8.gguf"), { seed: 3, weightType: "Q8_0", layers: 3 });
    direct = new DirectEngine(info.path, { threads: 2, contextLength: 128, maxSequences: 4, blockTokens: 4 });
  });

  it("decodes three sequences prefilled in one batch exactly as each alone", () => {
    const prompts = [randomIds(20, info.vocabSize, 1), randomIds(7, info.vocabSize, 2), randomIds(13, info.vocabSize, 3)];
    const alone = prompts.map((p) => direct.greedy(p, CONTINUATION));
    const { engine } = direct;
    const seqs = prompts.map(() => engine.createSequence());
    try {
      const together: number[][] = prompts.map(() => []);
      let rows = direct.step(seqs.map((seq, i) => ({ seq, tokens: prompts[i] })));
      for (let step = 0; step < CONTINUATION; step++) {
        const next = rows.map(argmax);
        next.forEach((t, i) => together[i].push(t));
        if (step + 1 < CONTINUATION) rows = direct.step(seqs.map((seq, i) => ({ seq, tokens: [next[i]] })));
      }
      expect(together).toEqual(alone);
      // Batched logits are the same numbers, not just the same argmax.
      const single = direct.nextLogits([...prompts[1], ...alone[1]]);
      const batched = direct.step(seqs.map((seq, i) => ({ seq, tokens: [together[i][CONTINUATION - 1]] })))[1];
      let diff = 0;
      for (let t = 0; t < single.length; t++) diff = Math.max(diff, Math.abs(single[t] - batched[t]));
      expect(diff).toBeLessThan(1e-4);
    } finally {
      for (const s of seqs) engine.freeSequence(s);
    }
  });

  it("continues a copy-on-write fork exactly as fresh sequences", () => {
    const { engine } = direct;
    const prompt = randomIds(18, info.vocabSize, 5); // ends inside a 4-token block: the fork shares a partial block
    const branchA = randomIds(3, info.vocabSize, 6);
    const branchB = randomIds(5, info.vocabSize, 7);
    const freshA = direct.greedy([...prompt, ...branchA], CONTINUATION);
    const freshB = direct.greedy([...prompt, ...branchB], CONTINUATION);

    const parent = engine.createSequence();
    let child = -1;
    try {
      direct.step([{ seq: parent, tokens: prompt }]);
      const usedBefore = engine.kvStats().usedBlocks;
      child = engine.forkSequence(parent);
      expect(engine.sequenceLength(child)).toBe(prompt.length);
      expect(engine.kvStats().usedBlocks).toBe(usedBefore); // shared, not copied
      // Each branch continues on its own; interleave them so a shared block that is not copied would show.
      const a: number[] = [];
      const b: number[] = [];
      let [la, lb] = direct.step([
        { seq: parent, tokens: branchA },
        { seq: child, tokens: branchB },
      ]);
      for (let i = 0; i < CONTINUATION; i++) {
        a.push(argmax(la));
        b.push(argmax(lb));
        if (i + 1 < CONTINUATION) {
          [la] = direct.step([{ seq: parent, tokens: [a[i]] }]);
          [lb] = direct.step([{ seq: child, tokens: [b[i]] }]);
        }
      }
      expect(a).toEqual(freshA);
      expect(b).toEqual(freshB);
    } finally {
      engine.freeSequence(parent);
      if (child >= 0) engine.freeSequence(child);
    }
    expect(engine.kvStats().usedBlocks).toBe(0);
  });
});
