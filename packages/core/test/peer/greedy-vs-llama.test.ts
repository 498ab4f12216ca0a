// Greedy decoding through the public API against llama.cpp on the same prompt
// ids, 64 tokens per prompt, on two versions of the default model:
//
// - its weights dequantized to F32 (exactly the weights the quantized model
//   computes with). Both engines then compute in float32 and differ only by
//   summation order, so where the two sequences part the step must be a
//   near-tie: the two candidates' logits within 1e-3 of each other, in
//   llama.cpp and in our engine (our logits from the addon directly).
// - the quantized model itself. Quantized matmuls round activations to 8 bits
//   per block of 32; on this model a block often holds one huge outlier, so a
//   last-bit difference upstream can flip a rounding and move logits by tenths
//   (our scalar and AVX2 kernels differ from each other by as much as from
//   llama.cpp). A 1e-3 tie cannot be required there; the test reports the
//   agreement and bounds the gap at a divergence by the engines' measured
//   disagreement on quantized activations.
//
// Needs the default model (or FIRST_TEST_MODEL) and the shared datasets
// (found beside the repository, or at FIRST_DATA).
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatMessage, LoadedModel } from "../../src/index.js";
import { core, dataRoot, DirectEngine, openExactPeer, writeDequantizedF32, type ExactPeer } from "../support/engine.js";
import { testModelPath } from "./llama-cpp.js";

const MODEL = testModelPath();
const STEPS = 64;
const CONTEXT = 1024;
/** The issue's criterion: a divergence only where the two top logits are this close. */
const TIE = 1e-3;
/**
 * Quantized model: the largest logit gap at a divergence seen on these prompts
 * was 0.45 (see the note above); on F32 weights all 21 prompts match fully.
 */
const QUANTIZED_GAP = 1.0;

type Input = string | ChatMessage[];

function jsonl(file: string, n: number): Array<Record<string, unknown>> {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(0, n)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Prompts: hand-written (short, code, math, German, lists, chat) and taken from the shared datasets (long ones too). */
function prompts(): Input[] {
  const data = dataRoot();
  const user = (content: string): ChatMessage[] => [{ role: "user", content }];
  const gsm = jsonl(path.join(data, "gsm8k", "test.jsonl"), 2).map((r) => String(r.question));
  const instructions = jsonl(path.join(data, "self_instruct_eval", "user_oriented_instructions.jsonl"), 2).map((r) => {
    const input = (r.instances as Array<{ input: string }>)[0]?.input ?? "";
    return `${String(r.instruction)}${input ? `\n\n${input}` : ""}`;
  });
  const german = readFileSync(path.join(data, "tatoeba_laser", "tatoeba.deu-eng.deu"), "utf8").split("\n").slice(0, 3);
  const lambada = jsonl(path.join(data, "lambada_openai", "lambada_openai.jsonl"), 1).map((r) => String(r.context));
  const scitldr = jsonl(path.join(data, "scitldr", "test.jsonl"), 1).map((r) => (r.source as string[]).join(" "));
  const wikitext = readFileSync(path.join(data, "wikitext2", "test.txt"), "utf8")
    .split("\n")
    .filter((l) => l.trim().length > 400)[0]
    .trim();
  const trivia = jsonl(path.join(data, "triviaqa_sm_sub", "triviaqa_sm_sub.jsonl"), 1).map((r) => String(r.context));
  return [
    "The capital of France is",
    "Once upon a time",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "// A function that sorts an array of numbers in JavaScript\nfunction sortNumbers(arr) {",
    "Question: What is 17 * 23?\nAnswer:",
    "Die Hauptstadt von Deutschland ist",
    "Here is a shopping list:\n1. Milk\n2. Eggs\n3.",
    '{"name": "Alice", "age": 30, "city":',
    user("What is the capital of France?"),
    user("Write a haiku about autumn."),
    [
      { role: "system", content: "You are a concise assistant." },
      { role: "user", content: "List three primary colors." },
    ],
    user(`Translate into English: ${german[0]}`),
    `${german[1]} ${german[2]}`,
    user(gsm[0]),
    user(`Solve step by step. ${gsm[1]}`),
    user(instructions[0]),
    user(instructions[1]),
    lambada[0],
    wikitext,
    user(`Summarize in one sentence:\n\n${scitldr[0]}`),
    trivia[0],
  ];
}

interface Row {
  index: number;
  promptTokens: number;
  matched: number;
  compared: number;
  full: boolean;
  ours?: number;
  theirs?: number;
  llamaGap?: number;
  ourGap?: number;
}

/** Runs every prompt through the public API and llama.cpp; at a divergence, measures both engines' logit gaps. */
async function compare(model: LoadedModel, peer: ExactPeer, direct: DirectEngine, inputs: Array<[number, Input]>): Promise<Row[]> {
  const eot = model.tokenizer.eotIds;
  const rows: Row[] = [];
  for (const [index, input] of inputs) {
    const r = await model.generate(input, { temperature: 0, maxTokens: STEPS }).result;
    const ids = r.promptTokenIds;
    expect(ids.length).toBeLessThan(CONTEXT - STEPS);
    const ref = await peer.greedy(ids, STEPS);
    // Ours stops at end-of-text (which is not part of r.tokens); llama.cpp's greedy goes on.
    const ours = r.tokens;
    const ended = r.finishReason === "stop";
    let k = 0;
    while (k < ours.length && ours[k] === ref[k]) k++;
    const compared = ours.length + (ended ? 1 : 0);
    const full = k === ours.length && (!ended || eot.has(ref[k]));
    const row: Row = { index, promptTokens: ids.length, matched: k, compared, full };
    if (!full) {
      // Our pick vs llama.cpp's pick at the first differing step, after the shared prefix.
      const context = [...ids, ...ours.slice(0, k)];
      const mine = direct.nextLogits(context);
      const a = k < ours.length ? ours[k] : [...eot].reduce((x, y) => (mine[y] > mine[x] ? y : x));
      const b = ref[k];
      const theirs = await peer.nextTokenLogProbs(context);
      Object.assign(row, { ours: a, theirs: b, llamaGap: theirs[b] - theirs[a], ourGap: mine[a] - mine[b] });
    }
    rows.push(row);
  }
  return rows;
}

function table(title: string, rows: Row[]): string {
  const fmt = (x: number | undefined) => (x === undefined ? "-" : x.toExponential(2));
  return [
    title,
    "prompt  tokens  matched  full  ours/theirs  llama gap   our gap",
    ...rows.map((r) =>
      [
        String(r.index).padStart(6),
        String(r.promptTokens).padStart(7),
        `${r.matched}/${r.compared}`.padStart(8),
        (r.full ? "yes" : "no").padStart(5),
        (r.ours === undefined ? "-" : `${r.ours}/${r.theirs}`).padStart(12),
        fmt(r.llamaGap).padStart(10),
        fmt(r.ourGap).padStart(9),
      ].join(" "),
    ),
    `${rows.filter((r) => r.full).length}/${rows.length} prompts match fully`,
  ].join("\n");
}

function expectNearTies(rows: Row[], bound: number): void {
  for (const r of rows) {
    if (r.full) continue;
    expect(Math.abs(r.llamaGap!), `prompt ${r.index}: llama.cpp's logit gap at step ${r.matched}`).toBeLessThan(bound);
    expect(Math.abs(r.ourGap!), `prompt ${r.index}: our logit gap at step ${r.matched}`).toBeLessThan(bound);
  }
}

for (const variant of ["F32 (dequantized)", "quantized"] as const) {
  describe(`greedy decoding vs llama.cpp: default model, ${variant}`, () => {
    let dir = "";
    let file = MODEL;
    let model: LoadedModel;
    let peer: ExactPeer;
    let direct: DirectEngine;

    beforeAll(async () => {
      if (!existsSync(MODEL)) {
        throw new Error(`test model not found at ${MODEL}: run \`pnpm first pull\` (or set FIRST_TEST_MODEL to a .gguf path)`);
      }
      if (variant !== "quantized") {
        dir = mkdtempSync(path.join(tmpdir(), "first-greedy-f32-"));
        file = path.join(dir, "model-f32.gguf");
        await writeDequantizedF32(MODEL, file);
      }
      const { loadModel } = await core();
      model = await loadModel(file, { threads: 2, contextLength: CONTEXT, maxSequences: 1 });
      peer = await openExactPeer(file, CONTEXT);
      direct = new DirectEngine(file, { threads: 2, contextLength: CONTEXT, maxSequences: 1 });
    });
    afterAll(async () => {
      await model?.close();
      await peer?.dispose();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const bound = variant === "quantized" ? QUANTIZED_GAP : TIE;
    it(`agrees on ${STEPS} greedy tokens per prompt, parting only where the logit gap is below ${bound}`, async () => {
      // The quantized run only reports and bounds: every other prompt keeps it short.
      const all = prompts();
      expect(all.length).toBeGreaterThanOrEqual(20);
      const inputs = [...all.entries()].filter(([i]) => variant !== "quantized" || i % 2 === 0);
      const rows = await compare(model, peer, direct, inputs);
      console.log(table(`greedy vs llama.cpp, ${STEPS} tokens, ${variant}: ${MODEL}`, rows));
      expectNearTies(rows, bound);
    }, 1_800_000); // ~100 s on an idle 2-core machine; F32 weights make every token read 540 MB
  });
}
