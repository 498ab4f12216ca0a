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

function adapter(name: string, zeroB: boolean): string {
  const rng = new TrainRandom(11);
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
    expect(adapted).toBeCloseTo(predicted, 3);
  });

  it("decoding token by token (the fused f16 form) gives the logits of one prefill pass (the f32 GEMM)", () => {
    // Factors that f16 holds exactly, so the two paths differ by summation order alone.
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
