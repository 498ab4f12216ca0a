// LoRA at inference: an adapter written by us loads into the engine, B = 0
// leaves the tokens unchanged, and a non-zero adapter changes the logits as
// the Trainer's forward (with the same adapter) predicts, and decoding's f16
// form agrees with prefill's f32 GEMM. An addon without LoRA fails them.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../src/gguf/tiny-model.js";
import { applyLora, loraPayload } from "../src/lora/engine-lora.js";
import { readModelConfig, type ModelConfig } from "../src/native.js";
import { moduleDims, writePeftAdapter, type LoraModelShape, type LoraModule, type LoraPair } from "../src/lora/peft.js";
import { TrainRandom } from "../../train/src/random.js";
import { core, engineTokenLosses, native } from "./support/engine.js";

const LAYERS = 3;
const shape: LoraModelShape = { nLayers: LAYERS, dModel: 64, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 128 };
const targets: LoraModule[] = ["q", "v", "o", "down"];
let dir: string;

function adapter(name: string, zeroB: boolean, seed = 11): string {
  const rng = new TrainRandom(seed);
  const pairs: LoraPair[] = [];
  for (let layer = 0; layer < LAYERS; layer++)
    for (const module of targets) {
      const [inDim, outDim] = moduleDims(module, shape);
      pairs.push({
        layer,
        module,
        a: Float32Array.from({ length: 4 * inDim }, () => rng.uniform(1 / Math.sqrt(inDim))),
        b: Float32Array.from({ length: outDim * 4 }, () => (zeroB ? 0 : rng.uniform(0.3))),
      });
    }
  const out = join(dir, name);
  writePeftAdapter(out, { rank: 4, alpha: 8, targets, pairs }, shape);
  return out;
}

let config: ModelConfig;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "first-lora-engine-"));
  makeTinyLlama(join(dir, "tiny.gguf"), { layers: LAYERS, seed: 5 });
  config = readModelConfig(join(dir, "tiny.gguf"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("LoRA at inference", () => {
  it("validates the adapter against the model before loading", async () => {
    const ok = loraPayload(adapter("ok", false), config);
    expect(ok.scale).toBe(2);
    expect(ok.pairs).toHaveLength(LAYERS * targets.length);
    const lib = await core();
    await expect(lib.loadModel(join(dir, "tiny.gguf"), { lora: join(dir, "nowhere") })).rejects.toThrow(/adapter_config.json is missing/);
    expect(() => applyLora({}, ok)).toThrow(/no Engine.setLora/);
  });

  it("an adapter with B = 0 leaves the greedy tokens unchanged", async () => {
    const lib = await core();
    const opts = { threads: 1, maxSequences: 1 };
    const gen = async (lora?: string) => {
      const m = await lib.loadModel(join(dir, "tiny.gguf"), { ...opts, lora });
      try {
        return (await m.generate("hello world and the", { temperature: 0, maxTokens: 12 }).result).tokens;
      } finally {
        await m.close();
      }
    };
    expect(await gen(adapter("zero", true))).toEqual(await gen());
  });

  it("a non-zero adapter changes the logits as the Trainer's forward predicts", () => {
    const { Model, Engine, Trainer } = native();
    const model = new Model(join(dir, "tiny.gguf"));
    const payload = loraPayload(adapter("nonzero", false), config);
    const tokens = Int32Array.from([5, 9, 40, 41, 7, 12, 30, 3]);
    const targetsOf = Int32Array.from([...tokens.slice(1), -1]);
    const ce = (lora: boolean) => {
      const engine = new Engine(model, { threads: 1, contextLength: 64 });
      if (lora) applyLora(engine, payload);
      const losses = engineTokenLosses(engine, LAYERS, tokens, targetsOf);
      return losses.reduce((a, b) => a + b, 0) / losses.length;
    };
    const trainer = new Trainer(model, { threads: 1, lora: { rank: 4, alpha: 8, targets } });
    for (const t of trainer.loraTensors()) {
      const p = payload.pairs.find((x) => x.layer === t.layer && x.module === t.module)!;
      trainer.setLora(t.name, t.kind === "A" ? p.a : p.b);
    }
    trainer.begin([{ tokens, targets: targetsOf, promptLength: 3 }]);
    for (let l = 0; l < LAYERS; l++) trainer.forwardLayer(l, Float32Array.of(1));
    const predicted = trainer.loss().loss;
    trainer.end();
    const base = ce(false), adapted = ce(true);
    expect(Math.abs(adapted - base)).toBeGreaterThan(0.01);
    // The engine runs the adapter in int8 (its input quantized as the base product's is), the
    // Trainer in f32: the loss may differ by that rounding, a small share of what the adapter
    // changes (6.5% on this tiny random adapter; a dropped module or a wrong scale is far more).
    expect(Math.abs(adapted - predicted)).toBeLessThan(0.1 * Math.abs(predicted - base));
  });

  it("one batch mixes the base model and two adapters, each row as it would be alone", () => {
    const { Model, Engine } = native();
    const model = new Model(join(dir, "tiny.gguf"));
    const vocab = model.config().vocabSize;
    const one = loraPayload(adapter("mix-1", false), config);
    const two = loraPayload(adapter("mix-2", false, 9), config);
    const all = Int32Array.from({ length: LAYERS }, (_, l) => l);
    const prompts = [Int32Array.of(5, 9, 40, 41, 7), Int32Array.of(12, 30, 3, 8, 2, 6), Int32Array.of(33, 4, 21)];
    const adapters = [0, 1, 2];
    // Alone: an engine per row, with only that row's adapter (or none).
    const alone = prompts.map((tokens, i) => {
      const engine = new Engine(model, { threads: 2, contextLength: 64 });
      if (adapters[i] === 1) applyLora(engine, one);
      if (adapters[i] === 2) applyLora(engine, two);
      const seq = engine.createSequence();
      const out: Float32Array[] = [];
      for (const [k, t] of [tokens, Int32Array.of(11), Int32Array.of(13)].entries()) {
        engine.beginBatch([{ seq, tokens: t }]);
        for (let l = 0; l < LAYERS; l++) engine.runLayer(l, all.subarray(0, 1));
        out.push(engine.logits(true, new Float32Array(vocab)).slice());
        engine.commitBatch();
        void k;
      }
      return out;
    });
    // Together: one engine holding both adapters; prefill batched, then two decode steps.
    const engine = new Engine(model, { threads: 2, contextLength: 64 });
    applyLora(engine, one, 1);
    applyLora(engine, two, 2);
    const seqs = prompts.map(() => engine.createSequence());
    const together: Float32Array[][] = prompts.map(() => []);
    for (const step of [0, 1, 2]) {
      engine.beginBatch(seqs.map((seq, i) => ({ seq, tokens: step === 0 ? prompts[i] : Int32Array.of(step === 1 ? 11 : 13), adapter: adapters[i] })));
      for (let l = 0; l < LAYERS; l++) engine.runLayer(l, all.subarray(0, 3));
      const rows = engine.logits(true, new Float32Array(3 * vocab));
      engine.commitBatch();
      for (let i = 0; i < 3; i++) together[i].push(rows.slice(i * vocab, (i + 1) * vocab));
    }
    for (let i = 0; i < 3; i++)
      for (let s = 0; s < 3; s++) {
        let worst = 0;
        for (let v = 0; v < vocab; v++) worst = Math.max(worst, Math.abs(together[i][s][v] - alone[i][s][v]));
        // Alone, decode uses the adapter's f16 form; mixed batches the f32 factors.
        expect(worst).toBeLessThan(2e-3);
      }
    // The adapters do change their rows.
    let diff = 0;
    for (let v = 0; v < vocab; v++) diff = Math.max(diff, Math.abs(together[1][0][v] - together[0][0][v]));
    expect(diff).toBeGreaterThan(1e-2);
    expect(() => engine.beginBatch([{ seq: seqs[0], tokens: Int32Array.of(1), adapter: 3 }])).toThrow(/adapter 3/);
    expect(() => applyLora(engine, one, 4)).toThrow(/without gaps/);
  });

  it("loadModel({ adapters }) serves named adapters and the base model from one engine, in the same batches", async () => {
    const lib = await core();
    const a = adapter("named-a", false), b = adapter("named-b", false, 21);
    const opts = { threads: 1, maxSequences: 4 };
    const greedy = async (m: Awaited<ReturnType<typeof lib.loadModel>>, adapterName?: string) =>
      (await m.generate("hello world and the", { temperature: 0, maxTokens: 10, adapter: adapterName }).result).tokens;
    const solo: number[][] = [];
    for (const lora of [undefined, a, b]) {
      const m = await lib.loadModel(join(dir, "tiny.gguf"), { ...opts, lora });
      solo.push(await greedy(m));
      await m.close();
    }
    const shared = await lib.loadModel(join(dir, "tiny.gguf"), { ...opts, adapters: { a, b } });
    try {
      expect(shared.adapterNames).toEqual(["a", "b"]);
      const together = await Promise.all([greedy(shared), greedy(shared, "a"), greedy(shared, "b"), greedy(shared, "a")]);
      expect(together[0]).toEqual(solo[0]);
      expect(together[1]).toEqual(solo[1]);
      expect(together[2]).toEqual(solo[2]);
      expect(together[3]).toEqual(solo[1]);
      expect(solo[1]).not.toEqual(solo[0]);
      expect(() => shared.generate("hi", { adapter: "c" })).toThrow(/no adapter "c"/);
    } finally {
      await shared.close();
    }
  });

  it("decoding token by token gives the logits of one prefill pass with the adapter", () => {
    // Factors that f16 holds exactly (from when decode and prefill took different forms; they still
    // make a fair adapter). Both paths now run the int8 form, on 1 and on 24 rows.
    const payload = loraPayload(adapter("f16-exact", false), config);
    const f16 = (v: Float32Array) => {
      const h = new Float32Array(v.length);
      const view = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < v.length; i++) {
        // Keep 11 significant bits (f16's precision; the values are well inside its range).
        view.setFloat32(0, v[i]);
        view.setUint32(0, (view.getUint32(0) + 0x1000) & 0xffffe000);
        h[i] = view.getFloat32(0);
      }
      return h;
    };
    const exact = { ...payload, pairs: payload.pairs.map((p) => ({ ...p, a: f16(p.a), b: f16(p.b) })) };
    const { Model, Engine } = native();
    const model = new Model(join(dir, "tiny.gguf"));
    const vocab = model.config().vocabSize;
    const tokens = Int32Array.from({ length: 24 }, (_, i) => (i * 7 + 3) % vocab);
    const all = Int32Array.from({ length: LAYERS }, (_, l) => l);
    const run = (step: (engine: InstanceType<typeof Engine>, seq: number) => Float32Array[]) => {
      const engine = new Engine(model, { threads: 2, contextLength: 64 });
      applyLora(engine, exact);
      return step(engine, engine.createSequence());
    };
    const prefill = run((engine, seq) => {
      engine.beginBatch([{ seq, tokens }]);
      for (let l = 0; l < LAYERS; l++) engine.runLayer(l, all.subarray(0, 1));
      const rows = engine.logits(false, new Float32Array(tokens.length * vocab));
      engine.commitBatch();
      return Array.from({ length: tokens.length }, (_, i) => rows.slice(i * vocab, (i + 1) * vocab));
    });
    const decode = run((engine, seq) =>
      Array.from(tokens, (t) => {
        engine.beginBatch([{ seq, tokens: Int32Array.of(t) }]);
        for (let l = 0; l < LAYERS; l++) engine.runLayer(l, all.subarray(0, 1));
        const row = engine.logits(true, new Float32Array(vocab)).slice();
        engine.commitBatch();
        return row;
      }),
    );
    let worst = 0, scale = 0;
    for (let i = 0; i < tokens.length; i++)
      for (let j = 0; j < vocab; j++) {
        worst = Math.max(worst, Math.abs(prefill[i][j] - decode[i][j]));
        scale = Math.max(scale, Math.abs(prefill[i][j]));
      }
    expect(worst / scale).toBeLessThan(1e-4);
  });
});
