// Every architecture the engine reads, on tiny random models in F32 and in
// quantized types, run through our engine and through llama.cpp: next-token
// log-probabilities and greedy continuations agree. Then, per architecture,
// sequences batched together decode as each alone, and a sequence that skips
// a layer holds no KV blocks for it.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { GgufTensorType } from "../src/gguf/quantize.js";
import { makeTinyModel, TINY_FAMILIES } from "../src/gguf/tiny-model.js";
import type { RouterSetData, RouterWeights } from "../src/routers/router-set.js";
import { argmax, compareWithPeer, core, DirectEngine, native, openExactPeer, randomIds } from "./support/engine.js";

const dir = mkdtempSync(join(tmpdir(), "first-archs-vs-llama-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PROMPT_LENGTH = 20;
const CONTINUATION = 12;


// gemma3's sliding window (8) is shorter than the prompt.
const FAMILIES = TINY_FAMILIES;

// F32 agrees within 1e-4 on every kernel set. Quantized weights agree as
// closely with the AVX2 kernels, which sum each block in llama.cpp's order
// (8 lanes of partial sums, each scaled), so the 8-bit activations of the
// next matmul round the same way on both sides. The scalar and AVX-512
// row-group kernels sum each block exactly before scaling it (they agree with
// each other within 3e-7); the last-bit difference can move an activation
// across a rounding boundary, which on one of these ten models (llama Q8_0)
// moves log p by 1.4e-2. Those sets get a bound that allows such flips and
// must still give the same greedy continuation.
const kernels = native().activeKernels();
const QUANT_BOUND = kernels === "avx2" ? 1e-4 : 5e-2;
const TYPES: Array<{ type: GgufTensorType; bound: number }> = [
  { type: "F32", bound: 1e-4 },
  { type: "Q8_0", bound: QUANT_BOUND },
  { type: "Q4_0", bound: QUANT_BOUND },
];

describe("every architecture: our engine vs llama.cpp", () => {
  const summary: string[] = [];
  afterAll(() => console.log([`kernels ${kernels}`, "model                 max|d log p|  bound   greedy", ...summary].join("\n")));

  for (const f of FAMILIES) {
    for (const t of TYPES) {
      const bound = t.bound;
      it(`${f.arch} ${t.type}: log-probabilities within ${bound} and the same greedy continuation`, async () => {
        const file = join(dir, `tiny-${f.arch}-${t.type}.gguf`);
        const info = makeTinyModel(file, { seed: 5, architecture: f.arch, weightType: t.type, ...f.options });
        const ids = randomIds(PROMPT_LENGTH, info.vocabSize, 13);
        const { mine, theirs, maxDiff: diff, ours: a, peers: b } = await compareWithPeer(file, ids, CONTINUATION);
        summary.push(`${`${f.arch} ${t.type}`.padEnd(20)}${diff.toExponential(2).padStart(12)}  ${bound.toExponential(0)}  ${a.join(",") === b.join(",") ? "same" : "DIFF"}`);
        expect(theirs.length).toBe(mine.length);
        expect(argmax(mine)).toBe(argmax(theirs));
        expect(diff).toBeLessThan(bound);
        expect(a).toEqual(b);
      });
    }
  }
});

describe("every architecture: batching and skipped layers in our engine", () => {
  for (const f of FAMILIES) {
    it(`${f.arch}: three prompts batched decode as each alone; a skipped layer gets no KV blocks`, () => {
      const file = join(dir, `tiny-${f.arch}-batch.gguf`);
      const info = makeTinyModel(file, { seed: 9, architecture: f.arch, weightType: "Q8_0", layers: 3, ...f.options });
      const direct = new DirectEngine(file, { threads: 2, contextLength: 128, maxSequences: 4, blockTokens: 4 });
      const { engine } = direct;
      const prompts = [randomIds(20, info.vocabSize, 1), randomIds(7, info.vocabSize, 2), randomIds(13, info.vocabSize, 3)];
      const alone = prompts.map((p) => direct.greedy(p, 8));
      const seqs = prompts.map(() => engine.createSequence());
      try {
        const together: number[][] = prompts.map(() => []);
        let rows = direct.step(seqs.map((seq, i) => ({ seq, tokens: prompts[i] })));
        for (let step = 0; step < 8; step++) {
          const next = rows.map(argmax);
          next.forEach((t, i) => together[i].push(t));
          if (step + 1 < 8) rows = direct.step(seqs.map((seq, i) => ({ seq, tokens: [next[i]] })));
        }
        expect(together).toEqual(alone);
      } finally {
        for (const s of seqs) engine.freeSequence(s);
      }
      // 20 tokens in 4-token blocks: 5 blocks per executed layer, none for layer 1.
      const seq = engine.createSequence();
      try {
        engine.beginBatch([{ seq, tokens: Int32Array.from(prompts[0]) }]);
        for (const l of [0, 2]) engine.runLayer(l, Int32Array.of(0));
        engine.logits(true);
        engine.commitBatch();
        expect(engine.kvStats().usedBlocks).toBe(2 * 5);
      } finally {
        engine.freeSequence(seq);
      }
    });
  }
});

/** Linear routers, zero weights: layer l's p = sigmoid(bias(l)) for any input. */
function constantRouters(nLayers: number, d: number, bias: (layer: number) => number): RouterSetData {
  const exempt = [0, nLayers - 1];
  const layers: (RouterWeights | null)[] = [];
  for (let l = 0; l < nLayers; l++) layers.push(exempt.includes(l) ? null : { fcWeight: new Float32Array(d), fcBias: bias(l) });
  return { config: { kind: "linear", dModel: d, hidden: 0, nLayers, exempt, threshold: 0.5, normEps: 1e-5 }, layers };
}

describe("every architecture through loadModel (what first run uses)", () => {
  for (const f of FAMILIES) {
    it(`${f.arch}: greedy generate gives llama.cpp's tokens; policies, routers and a layer budget skip layers`, async () => {
      const file = join(dir, `tiny-${f.arch}-api.gguf`);
      const info = makeTinyModel(file, { seed: 21, architecture: f.arch, layers: 6, weightType: "Q8_0", ...f.options });
      const ids = randomIds(PROMPT_LENGTH, info.vocabSize, 17);
      const lib = await core();
      const model = await lib.loadModel(file, { threads: 1, contextLength: 64, maxSequences: 2, blockTokens: 4 });
      const peer = await openExactPeer(file, 64, 1);
      try {
        const greedy = (opts: Record<string, unknown>) =>
          model.generate({ tokens: ids }, { temperature: 0, maxTokens: CONTINUATION, ...opts }).result;
        const full = await greedy({});
        // generate stops at end-of-text (not returned); the peer's greedy runs on.
        const theirs = await peer.greedy(ids, CONTINUATION);
        const eos = theirs.indexOf(info.eosId);
        expect(full.tokens).toEqual(eos >= 0 ? theirs.slice(0, eos) : theirs);
        const uls = await greedy({ plan: await model.planFor("uls:2") });
        expect(uls.executedLayers).toBe(4);
        expect(uls.skippedLayers.length).toBe(2);
        // Routers wanting layers 2 and 3 least; a budget of 4 layers skips exactly those.
        const routers = constantRouters(6, model.config.dModel, (l) => (l === 2 || l === 3 ? -1 : 2));
        const routed = await greedy({ routers, layerBudget: 4 });
        expect(routed.skippedLayers).toEqual([2, 3]);
        const masked = await greedy({ plan: { kind: "mask", executed: [true, true, false, false, true, true] } });
        expect(routed.tokens).toEqual(masked.tokens);
      } finally {
        await peer.dispose();
        await model.close();
      }
    });
  }
});
