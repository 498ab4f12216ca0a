// Training with the native Trainer on a tiny model: losses go down, an
// interrupted run resumed ends with bit-identical weights, and the outputs
// (router checkpoint, PEFT adapter) load back. Skipped when the addon was
// built without the Trainer.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";
import { engineTokenLosses, native } from "../../core/test/support/engine.js";
import { readPeftAdapter, loadRouters } from "@first/core";
import { defaultTrainSettings, readTrainLog, type TrainSettings } from "../src/run.js";
import { trainRouters, type TrainRunOptions } from "../src/session.js";

const LAYERS = 6;
let dir: string;
let home: string | undefined;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "first-train-native-"));
  home = process.env.FIRST_HOME;
  process.env.FIRST_HOME = join(dir, "home");
  makeTinyLlama(join(dir, "tiny.gguf"), { layers: LAYERS, seed: 7 });
  const words = ["hello world", "the cat", "and the", "is it", "on the mat", "hello"];
  const lines = Array.from({ length: 24 }, (_, i) =>
    JSON.stringify({ messages: [{ role: "user", content: `say ${words[i % 6]}` }, { role: "assistant", content: `${words[i % 6]} ${words[(i * 7 + 3) % 6]}` }] }),
  );
  writeFileSync(join(dir, "d.jsonl"), `${lines.join("\n")}\n`);
});
afterAll(() => {
  if (home === undefined) delete process.env.FIRST_HOME;
  else process.env.FIRST_HOME = home;
  rmSync(dir, { recursive: true, force: true });
});

function options(out: string, s: Partial<TrainSettings>, extra: Partial<TrainRunOptions> = {}): TrainRunOptions {
  return {
    model: join(dir, "tiny.gguf"),
    data: join(dir, "d.jsonl"),
    out,
    maxSeqLen: 64,
    threads: 2,
    settings: { ...defaultTrainSettings(LAYERS), batch: 4, evalEvery: 0, saveEvery: 0, routerHidden: 8, ...s },
    ...extra,
  };
}

describe("training with the native Trainer", () => {
  it("weighs the loss by tokens or by sequences, as the engine's own logits give it", () => {
    const { Engine, Model, Trainer } = native();
    const model = new Model(join(dir, "tiny.gguf"));
    // Two sequences with 5 and 1 target positions: the two means differ.
    const seqs = [Int32Array.from([5, 9, 40, 41, 7, 12, 30]), Int32Array.from([3, 8, 21])];
    const batch = seqs.map((tokens, i) => ({ tokens, targets: Int32Array.from(tokens, (_, j) => (j + 1 < tokens.length && (i === 0 ? j >= 1 : j === 1) ? tokens[j + 1] : -1)), promptLength: 2 }));
    const perSeq = batch.map(({ tokens, targets }) => {
      const ces = engineTokenLosses(new Engine(model, { threads: 1, contextLength: 64 }), LAYERS, tokens, targets);
      return { sum: ces.reduce((a, b) => a + b, 0), n: ces.length };
    });
    const trainer = new Trainer(model, { threads: 1 });
    const lossOf = (w?: "tokens" | "sequences") => {
      trainer.begin(batch);
      for (let l = 0; l < LAYERS; l++) trainer.forwardLayer(l, Float32Array.of(1, 1));
      const r = trainer.loss(w);
      trainer.end();
      return r;
    };
    const byTokens = (perSeq[0].sum + perSeq[1].sum) / (perSeq[0].n + perSeq[1].n);
    const bySeqs = (perSeq[0].sum / perSeq[0].n + perSeq[1].sum / perSeq[1].n) / 2;
    expect(Math.abs(byTokens - bySeqs)).toBeGreaterThan(1e-3);
    expect(lossOf().loss).toBeCloseTo(byTokens, 4);
    expect(lossOf("tokens")).toEqual({ loss: lossOf().loss, tokens: 6 });
    expect(lossOf("sequences").loss).toBeCloseTo(bySeqs, 4);
    trainer.begin(batch);
    for (let l = 0; l < LAYERS; l++) trainer.forwardLayer(l, Float32Array.of(1, 1));
    expect(() => trainer.loss("examples" as "tokens")).toThrow(TypeError);
    trainer.end();
  });

  it("LoRA steps lower the loss; the routers and the PEFT adapter load back for this model", async () => {
    const out = join(dir, "both");
    const r = await trainRouters(options(out, { stages: ["routers", "lora"], steps: 10, lr: 0.05, loraLr: 0.01, lambda: 0.5, warmup: 0 }));
    const lora = readTrainLog(out).filter((l) => l.type === "step" && l.stage === "lora");
    expect(lora).toHaveLength(10);
    expect(lora[9].ce as number).toBeLessThan((lora[0].ce as number) * 0.9);
    const routers = loadRouters(r.routersDir!);
    expect(routers.json.training).toMatchObject({ steps: 10, lambda: 0.5, alpha: 1 });
    const adapter = readPeftAdapter(r.loraDir!, { nLayers: LAYERS, dModel: 64, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 128 });
    expect(adapter.pairs).toHaveLength(LAYERS * 4);
    expect(adapter.pairs.some((p) => p.b.some((x) => x !== 0))).toBe(true);
  });

  it("resuming after an interruption gives exactly the weights of an uninterrupted run", async () => {
    const s: Partial<TrainSettings> = { stages: ["routers", "lora"], steps: 4, lr: 0.05, loraLr: 0.01, lambda: 0.2, hardAfter: 0.5, saveEvery: 1 };
    const whole = await trainRouters(options(join(dir, "whole"), s));
    const out = join(dir, "resumed");
    const controller = new AbortController();
    let seen = 0;
    await expect(
      trainRouters(options(out, s, { signal: controller.signal, onStep: () => ++seen === 3 && controller.abort() })),
    ).rejects.toThrow(/interrupted/);
    const resumed = await trainRouters(options(out, s, { resume: true }));
    const weights = (r: typeof whole) => [
      ...r.routers!.tensors().map((t) => Array.from(t.value)),
      ...r.lora!.pairs.flatMap((p) => [Array.from(p.a), Array.from(p.b)]),
    ];
    expect(weights(resumed)).toEqual(weights(whole));
  });
});
