// FiRST routers at inference on a tiny model: masks decided at prefill and
// kept for decode, KV blocks only for executed layers, batched decode with
// different masks, and checkpoint validation.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../src/gguf/tiny-model.js";
import type { RouterSetData, RouterWeights } from "../src/routers/router-set.js";
import { core } from "./support/engine.js";

type Core = Awaited<ReturnType<typeof core>>;
type Model = Awaited<ReturnType<Core["loadModel"]>>;

const LAYERS = 6;
let dir: string;
let lib: Core;
let model: Model;
const prompt = "hello world, this is a test of routing";

/** Linear routers with zero weights and a bias: p = sigmoid(bias), the same for any input. */
function constantRouters(bias: (layer: number) => number, d: number, exempt = [0, LAYERS - 1]): RouterSetData {
  const layers: (RouterWeights | null)[] = [];
  for (let l = 0; l < LAYERS; l++)
    layers.push(exempt.includes(l) ? null : { fcWeight: new Float32Array(d), fcBias: bias(l) });
  return { config: { kind: "linear", dModel: d, hidden: 0, nLayers: LAYERS, exempt, threshold: 0.5, normEps: 1e-5 }, layers };
}

async function greedy(opts: Record<string, unknown>, text = prompt) {
  return model.generate(text, { temperature: 0, maxTokens: 12, ...opts }).result;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "first-routers-"));
  makeTinyLlama(join(dir, "tiny.gguf"), { layers: LAYERS, seed: 7 });
  lib = await core();
  model = await lib.loadModel(join(dir, "tiny.gguf"), { threads: 1, maxSequences: 4, blockTokens: 4 });
});

afterAll(async () => {
  await model?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("routers at inference", () => {
  it("routers that never skip give exactly the full model's tokens", async () => {
    const full = await greedy({});
    const r = await greedy({ routers: constantRouters(() => 8, model.config.dModel) });
    expect(r.tokens).toEqual(full.tokens);
    expect(r.executedLayers).toBe(LAYERS);
    expect(r.skippedLayers).toEqual([]);
  });

  it("a hand-built mask is honoured at prefill and decode, and equals the same fixed mask", async () => {
    const routers = constantRouters((l) => (l === 2 || l === 3 ? -8 : 8), model.config.dModel);
    const routed = await greedy({ routers });
    expect(routed.skippedLayers).toEqual([2, 3]);
    expect(routed.executedLayers).toBe(LAYERS - 2);
    const executed = [true, true, false, false, true, true];
    const fixed = await greedy({ plan: { kind: "mask", executed } });
    expect(routed.tokens).toEqual(fixed.tokens);
    // Skipping really changes the computation.
    const full = await greedy({});
    expect(routed.tokens).not.toEqual(full.tokens);
    // Router probabilities are reported for routed layers only.
    expect(routed.routerProbabilities![0]).toBeNull();
    expect(routed.routerProbabilities![2]).toBeCloseTo(1 / (1 + Math.exp(8)), 6);
  });

  it("a router set crosses to the engine worker once and is named by id after", async () => {
    const worker = (model as unknown as { worker: { postMessage(m: { type: string }): void } }).worker;
    const sent: string[] = [];
    const post = worker.postMessage.bind(worker);
    worker.postMessage = (m) => {
      sent.push(m.type);
      post(m);
    };
    try {
      const routers = constantRouters((l) => (l === 3 ? -8 : 8), model.config.dModel);
      const a = await greedy({ routers });
      const b = await greedy({ routers, threshold: 0.5 });
      await model.scoreTokens(model.tokenize(prompt), [1, 2, 3], { routers });
      expect(sent.filter((t) => t === "register-routers")).toHaveLength(1);
      expect(b.tokens).toEqual(a.tokens);
      expect(a.skippedLayers).toEqual([3]);
      // Another set (another object) is registered on its own and decides by its own weights.
      const other = await greedy({ routers: constantRouters((l) => (l === 2 ? -8 : 8), model.config.dModel) });
      expect(other.skippedLayers).toEqual([2]);
      expect(sent.filter((t) => t === "register-routers")).toHaveLength(2);
    } finally {
      worker.postMessage = post;
    }
  });

  it("the threshold moves the decision", async () => {
    const routers = constantRouters(() => 0.4, model.config.dModel); // p = 0.599
    expect((await greedy({ routers })).skippedLayers).toEqual([]);
    expect((await greedy({ routers, threshold: 0.7 })).skippedLayers).toEqual([1, 2, 3, 4]);
  });

  it("an input-dependent router decides differently for different prompts", async () => {
    // Router on layer 2 reads one coordinate of the mean hidden state; pick
    // the coordinate where two prompts' states differ most in sign.
    const d = model.config.dModel;
    const probe = async (text: string, w: Float32Array) => {
      const routers = constantRouters(() => 8, d);
      routers.layers[2] = { fcWeight: w, fcBias: 0 };
      return (await greedy({ routers }, text)).skippedLayers.includes(2);
    };
    const results = new Set<boolean>();
    for (let i = 0; i < d && results.size < 2; i++) {
      const w = new Float32Array(d);
      w[i] = 1000;
      results.clear();
      for (const t of ["aaaa aaaa", "zz yy xx ww", "hello", "1 2 3 4 5 6"]) results.add(await probe(t, w));
    }
    expect(results.size).toBe(2);
  });

  it("KV blocks per sequence fall with the skipped layers", async () => {
    const full = await greedy({});
    for (const k of [1, 2, 3]) {
      const executed = Array.from({ length: LAYERS }, (_, l) => !(l >= 1 && l <= k));
      const r = await greedy({ plan: { kind: "mask", executed } });
      expect(r.kvBytes * LAYERS).toBe(full.kvBytes * (LAYERS - k));
    }
  });

  it("sequences with different masks decode in one batch and match one-by-one runs", async () => {
    const masks = [
      { kind: "full" as const },
      { kind: "mask" as const, executed: [true, false, true, false, true, true] },
      { kind: "mask" as const, executed: [true, true, true, false, false, true] },
    ];
    const prompts = ["the cat sat", "a quick brown fox jumps", "numbers 1 2 3"];
    const alone = [];
    for (let i = 0; i < 3; i++) alone.push(await greedy({ plan: masks[i], maxTokens: 16 }, prompts[i]));
    const together = await Promise.all(
      [0, 1, 2].map((i) => model.generate(prompts[i], { temperature: 0, maxTokens: 16, plan: masks[i] }).result),
    );
    for (let i = 0; i < 3; i++) expect(together[i].tokens).toEqual(alone[i].tokens);
    expect(Math.max(...together.map((r) => r.batchPeak))).toBeGreaterThanOrEqual(2);
  });
});

describe("layer budgets", () => {
  it("run exactly the budget, skipping the routable layers the routers rank lowest, nested as the budget shrinks", async () => {
    const bias = [0, 3, -1, 2, 0.5, 0]; // routable 1..4: p ranks 2 < 4 < 3 < 1
    const routers = constantRouters((l) => bias[l], model.config.dModel);
    const expected: Record<number, number[]> = { 6: [], 5: [2], 4: [2, 4], 3: [2, 3, 4], 2: [1, 2, 3, 4] };
    for (const [budget, skipped] of Object.entries(expected)) {
      const r = await greedy({ routers, layerBudget: Number(budget) });
      expect(r.executedLayers).toBe(Number(budget));
      expect(r.skippedLayers).toEqual(skipped);
      const executed = Array.from({ length: LAYERS }, (_, l) => !skipped.includes(l));
      expect(r.tokens).toEqual((await greedy({ plan: { kind: "mask", executed } })).tokens);
    }
    // The ratio form: half of the 4 routable layers.
    expect((await greedy({ routers, skipRatio: 0.5 })).skippedLayers).toEqual([2, 4]);
    expect((await greedy({ routers, skipRatio: 0 })).skippedLayers).toEqual([]);
  });

  it("rank by the routers' probabilities on the full model's hidden states", async () => {
    const d = model.config.dModel;
    const routers = constantRouters(() => 0, d);
    for (const l of [1, 2, 3, 4]) {
      const w = new Float32Array(d);
      for (let i = 0; i < d; i++) w[i] = Math.sin(l * 31 + i * 7) * 2;
      routers.layers[l] = { fcWeight: w, fcBias: 0 };
    }
    // Threshold 0: nothing skipped, so the probabilities are those of the full path.
    const full = await greedy({ routers, threshold: 0 });
    const p = full.routerProbabilities!;
    const budget = await greedy({ routers, layerBudget: 4 });
    for (const l of [1, 2, 3, 4]) expect(budget.routerProbabilities![l]).toBeCloseTo(p[l]!, 6);
    const lowest = [1, 2, 3, 4].sort((a, b) => p[a]! - p[b]!).slice(0, 2).sort((a, b) => a - b);
    expect(budget.skippedLayers).toEqual(lowest);
    // Scoring decides its layers the same way as generation from the same prompt.
    const ids = model.tokenize(prompt);
    const scored = await model.scoreTokens(ids.slice(0, 4), ids.slice(4), { routers, layerBudget: 4 });
    const generated = await model.generate({ tokens: ids.slice(0, 4) }, { routers, layerBudget: 4, temperature: 0, maxTokens: 1 }).result;
    expect(scored.executed).toEqual(generated.executed);
    expect(scored.executed.filter((e) => e)).toHaveLength(4);
  });

  it("refuse budgets that cannot be met or do not apply", async () => {
    const routers = constantRouters(() => 1, model.config.dModel);
    await expect(greedy({ routers, layerBudget: 1 })).rejects.toThrow(/below the 2 layers that always run/);
    await expect(greedy({ routers, layerBudget: LAYERS + 1 })).rejects.toThrow(/layer budget/);
    expect(() => model.generate(prompt, { layerBudget: 4 })).toThrow(/needs routers/);
    expect(() => model.generate(prompt, { routers, layerBudget: 4, threshold: 0.5 })).toThrow(/replaces the threshold/);
    expect(() => model.generate(prompt, { routers, layerBudget: 4, skipRatio: 0.5 })).toThrow(/not both/);
    expect(() => model.generate(prompt, { routers, skipRatio: 1.5 })).toThrow(/0\.\.1/);
    // The engine keeps serving after a refused budget.
    expect((await greedy({ routers, layerBudget: 3 })).executedLayers).toBe(3);
  });
});

describe("router checkpoints", () => {
  it("save, load and steer generation; refuse another base model", async () => {
    const routers = constantRouters((l) => (l === 3 ? -8 : 8), model.config.dModel);
    const id = await model.identity();
    const folder = join(dir, "ckpt");
    lib.saveRouters(folder, routers, id, { note: "hand-built" });
    const loaded = await model.loadRouters(folder);
    expect((await greedy({ routers: loaded })).skippedLayers).toEqual([3]);

    const other = join(dir, "ckpt-other");
    lib.saveRouters(other, routers, { ...id, sha256: "0".repeat(64) });
    await expect(model.loadRouters(other)).rejects.toThrow(/trained for another base model.*sha256/);
    lib.saveRouters(other, routers, { ...id, nLayers: 7 });
    await expect(model.loadRouters(other)).rejects.toThrow(/7 layers vs 6/);
  });

  it("corrupt or incomplete checkpoints give clear errors", async () => {
    const routers = constantRouters(() => 8, model.config.dModel);
    const id = await model.identity();
    const folder = join(dir, "bad");
    lib.saveRouters(folder, routers, id);
    const json = join(folder, "router.json");
    const st = join(folder, "routers.safetensors");
    const good = readFileSync(json, "utf8");
    const goodSt = readFileSync(st);

    writeFileSync(json, "{ not json");
    await expect(model.loadRouters(folder)).rejects.toThrow(/not valid JSON/);
    writeFileSync(json, good.replace('"first-routers"', '"other"'));
    await expect(model.loadRouters(folder)).rejects.toThrow(/format must be/);
    writeFileSync(json, good.replace('"threshold": 0.5', '"threshold": 2'));
    await expect(model.loadRouters(folder)).rejects.toThrow(/threshold/);
    writeFileSync(json, good);

    writeFileSync(st, goodSt.subarray(0, goodSt.length - 10));
    await expect(model.loadRouters(folder)).rejects.toThrow(/outside the file|bytes for shape/);
    writeFileSync(st, Buffer.from([1, 2, 3]));
    await expect(model.loadRouters(folder)).rejects.toThrow(/invalid safetensors/);
    rmSync(st);
    await expect(model.loadRouters(folder)).rejects.toThrow(/routers.safetensors is missing/);
    await expect(model.loadRouters(join(dir, "nowhere"))).rejects.toThrow(/router.json is missing/);
  });

  it("take the checkpoint's budget without an adapter when a request sets no threshold or budget and runs no adapter", async () => {
    const bias = [0, 3, -1, 2, 0.5, 0]; // p ranks 2 < 4 < 3 < 1; at the threshold 0.5 only layer 2 is skipped
    const routers = constantRouters((l) => bias[l], model.config.dModel);
    routers.config.layerBudgetWithoutAdapter = 3;
    const id = await model.identity();
    const folder = join(dir, "ckpt-budget");
    lib.saveRouters(folder, routers, id);
    expect(JSON.parse(readFileSync(join(folder, "router.json"), "utf8")).withoutAdapter).toEqual({ layerBudget: 3 });
    const loaded = await model.loadRouters(folder);
    expect(loaded.config.layerBudgetWithoutAdapter).toBe(3);
    expect((await greedy({ routers: loaded })).skippedLayers).toEqual([2, 3, 4]);
    // What the request asks for wins.
    expect((await greedy({ routers: loaded, threshold: 0.5 })).skippedLayers).toEqual([2]);
    expect((await greedy({ routers: loaded, layerBudget: 5 })).skippedLayers).toEqual([2]);
    // With an adapter the routers keep their threshold.
    const shape = lib.loraShapeFromConfig(model.config);
    const pairs = [];
    for (let layer = 0; layer < LAYERS; layer++) {
      const [inDim, outDim] = lib.moduleDims("q", shape);
      pairs.push({ layer, module: "q" as const, a: new Float32Array(2 * inDim).fill(0.01), b: new Float32Array(outDim * 2) });
    }
    const loraDir = join(dir, "zero-lora");
    lib.writePeftAdapter(loraDir, { rank: 2, alpha: 4, targets: ["q"], pairs }, shape);
    const adapted = await lib.loadModel(join(dir, "tiny.gguf"), { threads: 1, maxSequences: 1, lora: loraDir });
    try {
      const r = await adapted.generate(prompt, { routers: await adapted.loadRouters(folder), temperature: 0, maxTokens: 4 }).result;
      expect(r.skippedLayers).toEqual([2]);
    } finally {
      await adapted.close();
    }
    // A budget the routers cannot meet is refused at load.
    const json = join(folder, "router.json");
    writeFileSync(json, readFileSync(json, "utf8").replace('"layerBudget": 3', '"layerBudget": 1'));
    await expect(model.loadRouters(folder)).rejects.toThrow(/withoutAdapter.layerBudget must be an integer in 2..6/);
  });

  it("rejects an out-of-range threshold", async () => {
    expect(() => model.generate(prompt, { routers: constantRouters(() => 8, model.config.dModel), threshold: 1.5 })).toThrow(/threshold/);
  });
});
