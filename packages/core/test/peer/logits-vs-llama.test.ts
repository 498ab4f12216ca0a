// Next-token log-probabilities of our engine against llama.cpp's on the same
// prompt ids, on the default model's weights dequantized to F32 (both engines
// compute in float32: tight bound) and on the quantized model itself.
//
// On quantized weights both engines round activations to 8 bits per block of
// 32, and on this model a block often holds a huge outlier, so a last-bit
// difference upstream flips roundings that move log-probabilities by tenths:
// each engine is that far from the float32 result (our scalar and AVX2 kernels
// differ from each other as much). So the quantized check bounds the
// difference loosely, and requires that our engine is no further from the
// float32 result than llama.cpp is.
//
// Measured (SmolLM2-135M Q4_1, 10 prompts): F32 weights: max |d log p| ~1e-4
// over the top 50 and over every token with log p > -20. Quantized: top-50 up
// to ~0.7, all tokens above -20 up to ~1.1; argmax equal on all prompts.
// Needs the default model (or FIRST_TEST_MODEL).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { argmax, DirectEngine, logSoftmax, native, openExactPeer, topK, writeDequantizedF32, type ExactPeer } from "../support/engine.js";
import { testModelPath } from "./llama-cpp.js";

const MODEL = testModelPath();
const FLOOR = -20;
const CONTEXT = 256;
const F32_BOUND = 2e-3;
const QUANTIZED_TOP50_BOUND = 1.0;
const QUANTIZED_FULL_BOUND = 2.0;
/** Our mean error against the float32 result may exceed llama.cpp's by this factor at most. */
const ACCURACY_RATIO = 1.5;

const PROMPTS = [
  "The capital of France is",
  "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
  "def fibonacci(n):\n    if n < 2:\n        return n\n    return",
  "Question: What is 17 * 23?\nAnswer:",
  "Die Hauptstadt von Deutschland ist",
  "Here is a shopping list:\n1. Milk\n2. Eggs\n3.",
  "The quick brown fox jumps over the lazy",
  '{"name": "Alice", "age": 30, "city":',
  "In 1492, Columbus sailed across the Atlantic Ocean and reached the islands of the Caribbean. " +
    "His voyages marked the beginning of centuries of European exploration and colonization of the Americas. " +
    "Historians still debate the consequences of these journeys, which",
  "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nName three primary colors.<|im_end|>\n<|im_start|>assistant\n",
];

/** Max |a - b| over the reference's top 50 and over every token where the reference has log p > FLOOR. */
function distance(a: ArrayLike<number>, b: ArrayLike<number>, ref: ArrayLike<number>): { top: number; full: number } {
  let top = 0;
  for (const t of topK(ref, 50)) top = Math.max(top, Math.abs(a[t] - b[t]));
  let full = 0;
  for (let t = 0; t < ref.length; t++) if (ref[t] > FLOOR) full = Math.max(full, Math.abs(a[t] - b[t]));
  return { top, full };
}

interface Row {
  f32: { top: number; full: number };
  q: { top: number; full: number };
  oursErr: number;
  llamaErr: number;
  argmaxF: boolean;
  argmaxQ: boolean;
}

interface Side {
  peer: ExactPeer;
  direct: DirectEngine;
}

describe("next-token log-probabilities vs llama.cpp", () => {
  let dir = "";
  let quantized: Side;
  let f32: Side;
  const ids: number[][] = [];

  beforeAll(async () => {
    if (!existsSync(MODEL)) {
      throw new Error(`test model not found at ${MODEL}: run \`pnpm first pull\` (or set FIRST_TEST_MODEL to a .gguf path)`);
    }
    dir = mkdtempSync(path.join(tmpdir(), "first-logits-f32-"));
    const f32File = path.join(dir, "model-f32.gguf");
    await writeDequantizedF32(MODEL, f32File);
    const open = async (file: string): Promise<Side> => ({
      peer: await openExactPeer(file, CONTEXT),
      direct: new DirectEngine(file, { threads: 2, contextLength: CONTEXT, maxSequences: 1 }),
    });
    quantized = await open(MODEL);
    f32 = await open(f32File);
    const tokenizer = Tokenizer.fromGgufMetadata(native().readGguf(MODEL).metadata);
    for (const p of PROMPTS) ids.push(tokenizer.encode(p, { addSpecial: true, parseSpecial: true }));
  });
  afterAll(async () => {
    await quantized?.peer.dispose();
    await f32?.peer.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`matches on F32 weights within ${F32_BOUND}, and on quantized weights within ${QUANTIZED_TOP50_BOUND} (top 50) / ${QUANTIZED_FULL_BOUND} (log p > ${FLOOR}), no less accurately than llama.cpp`, async () => {
    const lines = ["prompt  tokens  argmax F32/Q  F32 top-50   F32 full    Q top-50     Q full   Q err: ours  llama.cpp"];
    const rows: Row[] = [];
    for (const [i, prompt] of ids.entries()) {
      const refF = await f32.peer.nextTokenLogProbs(prompt);
      const oursF = logSoftmax(f32.direct.nextLogits(prompt));
      const refQ = await quantized.peer.nextTokenLogProbs(prompt);
      const oursQ = logSoftmax(quantized.direct.nextLogits(prompt));
      const row: Row = {
        f32: distance(oursF, refF, refF),
        q: distance(oursQ, refQ, refQ),
        // Distance of each engine's quantized result from the float32 one.
        oursErr: distance(oursQ, refF, refF).top,
        llamaErr: distance(refQ, refF, refF).top,
        argmaxF: argmax(oursF) === argmax(refF),
        argmaxQ: argmax(oursQ) === argmax(refQ),
      };
      rows.push(row);
      const e = (x: number) => x.toExponential(2).padStart(10);
      lines.push(
        `${String(i).padStart(6)}  ${String(prompt.length).padStart(6)}  ${row.argmaxF ? "same" : "DIFF"}/${row.argmaxQ ? "same" : "DIFF"}   ` +
          `${e(row.f32.top)}  ${e(row.f32.full)}  ${e(row.q.top)}  ${e(row.q.full)}  ${e(row.oursErr)}  ${e(row.llamaErr)}`,
      );
    }
    const max = (f: (r: Row) => number) => Math.max(...rows.map(f));
    const mean = (f: (r: Row) => number) => rows.reduce((s, r) => s + f(r), 0) / rows.length;
    lines.push(
      `worst: F32 top-50 ${max((r) => r.f32.top).toExponential(2)}, F32 full ${max((r) => r.f32.full).toExponential(2)}, ` +
        `Q top-50 ${max((r) => r.q.top).toExponential(2)}, Q full ${max((r) => r.q.full).toExponential(2)}; ` +
        `mean error of the quantized result vs F32 (top 50): ours ${mean((r) => r.oursErr).toExponential(2)}, llama.cpp ${mean((r) => r.llamaErr).toExponential(2)}`,
    );
    console.log(lines.join("\n"));

    for (const [i, r] of rows.entries()) {
      expect(r.argmaxF, `prompt ${i}: argmax on F32 weights`).toBe(true);
      expect(r.argmaxQ, `prompt ${i}: argmax on quantized weights`).toBe(true);
    }
    expect(max((r) => r.f32.top)).toBeLessThan(F32_BOUND);
    expect(max((r) => r.f32.full)).toBeLessThan(F32_BOUND);
    expect(max((r) => r.q.top)).toBeLessThan(QUANTIZED_TOP50_BOUND);
    expect(max((r) => r.q.full)).toBeLessThan(QUANTIZED_FULL_BOUND);
    expect(mean((r) => r.oursErr)).toBeLessThan(ACCURACY_RATIO * mean((r) => r.llamaErr));
  });
});
