// The llama.cpp peer itself: it loads the default model, decodes greedily and
// deterministically, and gives a full-vocabulary next-token distribution.
import fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openPeer, testModelPath, type Peer } from "./llama-cpp.js";

const MODEL = testModelPath();

describe("llama.cpp peer", () => {
  let peer: Peer;

  beforeAll(async () => {
    if (!fs.existsSync(MODEL)) {
      throw new Error(`test model not found at ${MODEL}: run \`pnpm first pull\` (or set FIRST_TEST_MODEL to a .gguf path)`);
    }
    peer = await openPeer(MODEL, { threads: 2, contextSize: 512 });
  });
  afterAll(async () => {
    await peer?.dispose();
  });

  it("tokenizes with special tokens and round-trips text", () => {
    const ids = peer.tokenize("<|im_start|>user\nHello<|im_end|>");
    expect(ids[0]).toBe(1); // <|im_start|> is one token in SmolLM2's vocabulary
    expect(peer.detokenize(peer.tokenize("The capital of France is"))).toBe("The capital of France is");
    expect(peer.vocabSize).toBe(49152);
  });

  it("decodes greedily and deterministically", async () => {
    const prompt = peer.tokenize("<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n");
    const a = await peer.greedy(prompt, 8);
    const b = await peer.greedy(prompt, 8);
    expect(a.tokens).toHaveLength(8);
    expect(a.topGaps).toHaveLength(8);
    expect(b).toEqual(a);
    for (const gap of a.topGaps) expect(gap).toBeGreaterThanOrEqual(0);
    expect(peer.detokenize(a.tokens)).toMatch(/Paris/);
  });

  it("gives log-probabilities over the whole vocabulary that agree with greedy decoding", async () => {
    const prompt = peer.tokenize("The capital of France is");
    const logProbs = await peer.nextTokenLogProbs(prompt);
    expect(logProbs).toHaveLength(peer.vocabSize);
    let best = 0;
    let mass = 0;
    let finite = 0;
    for (let i = 0; i < logProbs.length; i++) {
      if (logProbs[i] > logProbs[best]) best = i;
      if (Number.isFinite(logProbs[i])) finite++;
      mass += Math.exp(logProbs[i]);
    }
    expect(mass).toBeCloseTo(1, 3);
    expect(finite).toBeGreaterThan(peer.vocabSize / 2);
    const greedy = await peer.greedy(prompt, 1);
    expect(greedy.tokens[0]).toBe(best);
  });
});
