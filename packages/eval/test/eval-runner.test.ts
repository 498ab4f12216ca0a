// The evaluation runner end to end on a tiny random model: scoreTokens equals
// log-softmax of the addon's logits, a --data file is evaluated with results
// appended as they come, and a rerun resumes without recomputing.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";
import { loadModel, type LoadedModel } from "@first/core";
import { argmax, DirectEngine, logSoftmax } from "../../core/test/support/engine.js";
import { evaluate, perplexityWindows, readRecords } from "../src/index.js";

const LAYERS = 4;
let dir: string;
let model: LoadedModel;
let direct: DirectEngine;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "first-eval-"));
  makeTinyLlama(join(dir, "tiny.gguf"), { layers: LAYERS, seed: 3 });
  model = await loadModel(join(dir, "tiny.gguf"), { threads: 1, maxSequences: 2 });
  direct = new DirectEngine(join(dir, "tiny.gguf"), { threads: 1 });
});

afterAll(async () => {
  await model?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("scoreTokens", () => {
  it("equals log-softmax of the addon's next-token logits at every position", async () => {
    const prompt = model.tokenize("the cat sat");
    const continuation = model.tokenize(" on the mat in the sun", { addSpecial: false });
    const r = await model.scoreTokens(prompt, continuation);
    expect(r.logprobs).toHaveLength(continuation.length);
    expect(r.executed).toEqual(new Array(LAYERS).fill(true));
    let greedy = true;
    for (let i = 0; i < continuation.length; i++) {
      const logits = direct.nextLogits([...prompt, ...continuation.slice(0, i)]);
      expect(r.logprobs[i]).toBeCloseTo(logSoftmax(logits)[continuation[i]], 3);
      if (argmax(logits) !== continuation[i]) greedy = false;
    }
    expect(r.greedyMatch).toBe(greedy);
  });

  it("greedyMatch is true for the model's own greedy continuation; masks are honoured", async () => {
    const prompt = model.tokenize("hello world");
    const own = direct.greedy(prompt, 5);
    expect((await model.scoreTokens(prompt, own)).greedyMatch).toBe(true);
    const executed = [true, false, true, true];
    const masked = await model.scoreTokens(prompt, own, { plan: { kind: "mask", executed } });
    expect(masked.executed).toEqual(executed);
    expect(masked.logprobs[0]).not.toBeCloseTo((await model.scoreTokens(prompt, own)).logprobs[0], 6);
    await expect(model.scoreTokens([], own)).rejects.toThrow(/empty/);
  });
});

describe("evaluate", () => {
  it("runs a --data file, appends JSONL as it goes, and resumes without recomputing", async () => {
    const data = join(dir, "qa.jsonl");
    writeFileSync(
      data,
      ['{"prompt":"the cat","reference":"sat on the mat"}', '{"prompt":"hello","reference":"world"}', '{"id":"q3","messages":[{"role":"user","content":"hi"}],"reference":["a","b"]}'].join("\n"),
    );
    const out = join(dir, "run");
    const seen: number[] = [];
    const first = await evaluate(model, {
      dataFile: data, metric: "squad", out, maxTokens: 4, limit: 2,
      onExample: (_r, p) => {
        seen.push(p.done);
        // Each record is on disk before the next example starts.
        expect(readFileSync(join(out, "examples.jsonl"), "utf8").trim().split("\n")).toHaveLength(p.done);
      },
    });
    expect(seen).toEqual([1, 2]);
    expect(first.summary.examples).toBe(2);
    expect(first.summary.task).toBe("data:qa.jsonl");
    expect(first.summary.policy).toBe("full");
    expect(Object.keys(first.summary.quality)).toEqual(["em", "f1"]);
    expect(first.summary.executedLayers).toBe(LAYERS);
    expect(first.summary.skippedLayers).toEqual(new Array(LAYERS).fill(0));
    expect(first.summary.kvBytesPerSequence).toBeGreaterThan(0);
    expect(first.summary.latency.prefillMsMedian).toBeGreaterThan(0);
    const rec = first.records[0];
    expect(rec).toMatchObject({ task: "data:qa.jsonl", policy: "full", id: "0", references: ["sat on the mat"], executedLayers: LAYERS });
    expect(rec.tokens).toBeLessThanOrEqual(4);
    expect(rec.promptTokens).toBe(model.tokenize("the cat").length);

    // A torn last line (an interrupted write) is ignored; the rerun computes only the missing example.
    writeFileSync(join(out, "examples.jsonl"), readFileSync(join(out, "examples.jsonl"), "utf8") + '{"task":"data:qa.jso');
    const resumed: boolean[] = [];
    const second = await evaluate(model, { dataFile: data, metric: "squad", out, maxTokens: 4, onExample: (_r, p) => resumed.push(p.resumed) });
    expect(resumed).toEqual([true, true, false]);
    expect(second.records.slice(0, 2)).toEqual(first.records);
    const lines = readRecords(join(out, "examples.jsonl"));
    expect(lines.map((r) => r.id)).toEqual(["0", "1", "q3"]);
    const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(summary.examples).toBe(3);

    // Another policy is a separate run in the same file.
    const skip = await evaluate(model, {
      dataFile: data, metric: "squad", out, maxTokens: 4, limit: 1, policy: "skip:1", plan: { kind: "mask", executed: [true, false, true, true] },
    });
    expect(skip.summary.skippedLayers).toEqual([0, 1, 0, 0]);
    expect(skip.summary.executedLayers).toBe(3);
    expect(readRecords(join(out, "examples.jsonl"))).toHaveLength(4);
  });

  it("multiple choice and perplexity data through scoreTokens", async () => {
    const mc = join(dir, "mc.jsonl");
    writeFileSync(mc, '{"query":"the cat","choices":["sat","mat on the"],"gold":1}\n');
    const r = await evaluate(model, { dataFile: mc });
    expect(r.records[0].choiceLogprobs).toHaveLength(2);
    const [a, b] = r.records[0].choiceLogprobs!;
    expect(r.summary.quality.acc).toBe(b > a ? 1 : 0);

    const txt = join(dir, "text.jsonl");
    writeFileSync(txt, `${JSON.stringify({ text: "the cat sat on the mat. ".repeat(30) })}\n`);
    const ids = model.tokenize("the cat sat on the mat. ".repeat(30));
    // The text is longer than the context (256): windows of 256 tokens, 100 new tokens each after the first.
    const p = await evaluate(model, { dataFile: txt, perplexityStride: 100 });
    expect(ids.length).toBeGreaterThan(model.engine.contextLength);
    expect(p.records[0].scores.tokens).toBe(ids.length - 1);
    expect(p.summary.quality.perplexity).toBeGreaterThan(1);
    let nll = 0;
    const windows = perplexityWindows(ids.length, model.engine.contextLength, 100);
    expect(windows.length).toBe(2);
    for (const w of windows) {
      const s = await model.scoreTokens(ids.slice(w.start, w.scoreFrom), ids.slice(w.scoreFrom, w.end));
      nll -= s.logprobs.reduce((x, y) => x + y, 0);
    }
    expect(p.records[0].scores.nll).toBeCloseTo(nll, 6);
  });

  it("rejects an unknown task with the list of tasks", async () => {
    await expect(evaluate(model, { task: "nope" })).rejects.toThrow(/unknown task "nope"; tasks: cnn_dailymail_val1000/);
  });
});
