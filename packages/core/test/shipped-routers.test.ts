// The routers shipped for the default model (packages/core/shipped/smollm2-135m-instruct-mix-routers-lora)
// and the LoRA adapter beside them: found for the model by its sha256, loaded,
// and deciding per prompt which layers run. Integration test: needs the
// default model (`pnpm first pull`).
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { core } from "./support/engine.js";

type Core = Awaited<ReturnType<typeof core>>;
type Model = Awaited<ReturnType<Core["loadModel"]>>;

const SHIPPED = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "shipped", "smollm2-135m-instruct-mix-routers-lora");
const PROMPTS = [
  "Write a one-sentence TL;DR of this abstract: We study the effect of dropout on the calibration of deep networks and find that larger rates improve calibration at a small cost in accuracy.",
  "Translate to German: The weather is nice today and we are going to the park.",
  "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?",
];

let lib: Core;
let model: Model;
let adapted: Model;
let modelPath: string;

beforeAll(async () => {
  lib = await core();
  modelPath = process.env.FIRST_TEST_MODEL || path.join(lib.modelsDir(), "SmolLM2-135M-Instruct.Q4_1.gguf");
  if (!existsSync(modelPath)) throw new Error(`default model not found at ${modelPath}: run \`pnpm first pull\``);
  model = await lib.loadModel(modelPath, { threads: 2, maxSequences: 1 });
  adapted = await lib.loadModel(modelPath, { threads: 2, maxSequences: 1, lora: path.join(SHIPPED, "lora") });
}, 120_000);
afterAll(async () => {
  await model?.close();
  await adapted?.close();
});

describe("shipped mix routers for SmolLM2-135M-Instruct", () => {
  it("are found for the default model by its sha256 and load with their threshold", async () => {
    expect(lib.shippedRoutersFor(await model.identity())).toContain(SHIPPED);
    const routers = await model.loadRouters(SHIPPED);
    expect(routers.config.nLayers).toBe(30);
    expect(routers.config.exempt).toEqual([0, 1, 29]);
    expect(routers.config.threshold).toBe(0.59);
    expect(routers.config.layerBudgetWithoutAdapter).toBe(30);
    expect(routers.layers.filter((r) => r !== null)).toHaveLength(27);
  });

  it("skip layers the prompt chooses, never an exempt one, with KV memory only for the executed layers", async () => {
    const routers = await model.loadRouters(SHIPPED);
    const masks: string[] = [];
    for (const p of PROMPTS) {
      // At their threshold (alone, they would run every layer: withoutAdapter).
      const r = await model.generate([{ role: "user", content: p }], { routers, threshold: routers.config.threshold, maxTokens: 8, temperature: 0 }).result;
      expect(r.skippedLayers.length).toBeGreaterThan(0);
      for (const l of [0, 1, 29]) expect(r.executed[l]).toBe(true);
      for (const l of r.skippedLayers) expect(r.routerProbabilities![l]).toBeLessThan(routers.config.threshold);
      expect(r.executedLayers).toBe(30 - r.skippedLayers.length);
      // Skipped layers hold no KV blocks: the prompt's KV bytes are executed/30 of the full model's.
      const full = await model.generate([{ role: "user", content: p }], { maxTokens: 1, temperature: 0 }).result;
      expect(r.kvBytes).toBe((full.kvBytes / 30) * r.executedLayers);
      masks.push(r.skippedLayers.join(","));
    }
    // The prompt decides: not every prompt gets the same layers.
    expect(new Set(masks).size).toBeGreaterThan(1);
  });

  it("run every layer without their adapter unless asked otherwise, and skip at their threshold with it", async () => {
    const routers = await model.loadRouters(SHIPPED);
    const alone = await model.generate([{ role: "user", content: PROMPTS[0] }], { routers, maxTokens: 4, temperature: 0 }).result;
    expect(alone.executedLayers).toBe(30);
    const routersForAdapted = await adapted.loadRouters(SHIPPED);
    const withAdapter = await adapted.generate([{ role: "user", content: PROMPTS[0] }], { routers: routersForAdapted, maxTokens: 4, temperature: 0 }).result;
    expect(withAdapter.skippedLayers.length).toBeGreaterThan(0);
    for (const l of withAdapter.skippedLayers) expect(withAdapter.routerProbabilities![l]).toBeLessThan(0.59);
  });

  it("come with a PEFT adapter that loads and changes the model's output", async () => {
    const routers = await model.loadRouters(SHIPPED);
    const texts = async (m: Model) => {
      const out: string[] = [];
      for (const p of PROMPTS) out.push((await m.generate([{ role: "user", content: p }], { routers, maxTokens: 12, temperature: 0 }).result).text);
      return out;
    };
    expect(await texts(adapted)).not.toEqual(await texts(model));
  });
});
