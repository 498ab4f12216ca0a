// Hostile inputs the loader fuzzer found (test/loader-fuzz.test.ts), kept as
// named cases: each must be refused with the loader's error and a message
// naming the problem, never a TypeError or a half-valid result.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LoraLoadError, readPeftAdapter, writePeftAdapter } from "../src/lora/peft.js";
import { loadRouters, RouterLoadError, saveRouters } from "../src/routers/checkpoint.js";
import { readSafetensors, SafetensorsError } from "../src/safetensors.js";

const root = mkdtempSync(join(tmpdir(), "first-hostile-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/** A safetensors file with this header (any JSON text) and `dataBytes` zero bytes after it. */
function safetensors(header: string, dataBytes: number, path = join(root, `t${counter++}.safetensors`)): string {
  const h = Buffer.from(header, "utf8");
  const out = Buffer.alloc(8 + h.length + dataBytes);
  out.writeBigUInt64LE(BigInt(h.length), 0);
  h.copy(out, 8);
  writeFileSync(path, out);
  return path;
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: "F32", shape, data_offsets: [begin, end] });

describe("safetensors refuses", () => {
  const cases: Array<[string, string, number, string]> = [
    ["a null tensor entry", JSON.stringify({ w: null }), 0, "tensor w is not described by an object"],
    ["a metadata value that is not a string", JSON.stringify({ __metadata__: { format: null } }), 0, "__metadata__ value format is not a string"],
    ["metadata that is not an object", JSON.stringify({ __metadata__: [1] }), 0, "__metadata__ is not an object"],
    ["a dtype named after an Object property", JSON.stringify({ w: { ...f32([1], 0, 4), dtype: "constructor" } }), 4, "unsupported dtype constructor"],
    ["a shape past 2^53", JSON.stringify({ w: f32([2 ** 60, 0], 0, 0) }), 0, "invalid shape"],
    ["two tensors sharing bytes", JSON.stringify({ a: f32([2], 0, 8), b: f32([2], 4, 12) }), 12, "tensors a and b overlap"],
    ["a tensor inside another, after an empty one", JSON.stringify({ a: f32([4], 0, 16), e: f32([0], 4, 4), b: f32([1], 8, 12) }), 16, "tensors a and b overlap"],
    ["a header that is JSON null", "null", 0, "header is not an object"],
  ];
  for (const [what, header, dataBytes, message] of cases) {
    it(what, () => {
      const path = safetensors(header, dataBytes);
      expect(() => readSafetensors(path)).toThrow(SafetensorsError);
      expect(() => readSafetensors(path)).toThrow(message);
    });
  }

  it("still reads empty tensors and tensors laid end to end", () => {
    const path = safetensors(JSON.stringify({ a: f32([2], 0, 8), e: f32([0, 3], 8, 8), b: f32([1], 8, 12) }), 12);
    const { tensors } = readSafetensors(path);
    expect([...tensors.keys()].sort()).toEqual(["a", "b", "e"]);
    expect(tensors.get("e")!.data.length).toBe(0);
  });
});

describe("router checkpoints refuse", () => {
  const good = join(root, "routers-good");
  const d = 2;
  saveRouters(
    good,
    { config: { kind: "linear", dModel: d, hidden: 0, nLayers: 2, exempt: [0], threshold: 0.5, normEps: 1e-5 }, layers: [null, { fcWeight: Float32Array.of(1, 2), fcBias: 0 }] },
    { architecture: "llama", nLayers: 2, dModel: d, sha256: "00".repeat(32) },
  );
  const withJson = (json: string) => {
    const dir = join(root, `routers-${counter++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "router.json"), json);
    writeFileSync(join(dir, "routers.safetensors"), Buffer.from(readFileSync(join(good, "routers.safetensors"))));
    return dir;
  };
  const valid = JSON.parse(readFileSync(join(good, "router.json")).toString("utf8"));
  const cases: Array<[string, unknown, string]> = [
    ["a document that is JSON null", null, "not a JSON object"],
    ["an architecture that is not a string", { ...valid, baseModel: { ...valid.baseModel, architecture: 7 } }, "baseModel must give"],
    ["a negative normEps", { ...valid, router: { ...valid.router, normEps: -0.5 } }, "router.normEps must be a positive number"],
    ["a normEps that is a string", { ...valid, router: { ...valid.router, normEps: "1e-5" } }, "router.normEps must be a positive number"],
    ["an unknown router input", { ...valid, router: { ...valid.router, input: "last-token" } }, 'router.input must be "mean-prompt-hidden"'],
  ];
  it("a good folder loads", () => expect(loadRouters(good).data.layers.length).toBe(2));
  for (const [what, json, message] of cases) {
    it(what, () => {
      const dir = withJson(JSON.stringify(json));
      expect(() => loadRouters(dir)).toThrow(RouterLoadError);
      expect(() => loadRouters(dir)).toThrow(message);
    });
  }
});

describe("PEFT adapters refuse", () => {
  const shape = { nLayers: 2, dModel: 4, nHeads: 2, nKvHeads: 1, headDim: 2, ffnDim: 6 };
  const good = join(root, "peft-good");
  writePeftAdapter(good, { rank: 1, alpha: 2, targets: ["q"], pairs: [{ layer: 0, module: "q", a: new Float32Array(4), b: new Float32Array(4) }] }, shape, "F32");
  const config = JSON.parse(readFileSync(join(good, "adapter_config.json")).toString("utf8"));
  const adapter = (cfg: unknown, tensorsHeader?: string, dataBytes = 0) => {
    const dir = join(root, `peft-${counter++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, "adapter_config.json"), JSON.stringify(cfg));
    if (tensorsHeader) safetensors(tensorsHeader, dataBytes, join(dir, "adapter_model.safetensors"));
    else writeFileSync(join(dir, "adapter_model.safetensors"), readFileSync(join(good, "adapter_model.safetensors")));
    return dir;
  };
  const key = (layer: string, ab: "A" | "B", suffix = "") => `base_model.model.model.layers.${layer}.self_attn.q_proj.lora_${ab}${suffix}.weight`;
  const pair = (layer: string, begin: number) => ({ [key(layer, "A")]: f32([1, 4], begin, begin + 16), [key(layer, "B")]: f32([4, 1], begin + 16, begin + 32) });
  const cases: Array<[string, unknown, string | undefined, number, string]> = [
    ["a config that is JSON null", null, undefined, 0, "not a JSON object"],
    ["lora_alpha 1e999 (Infinity)", JSON.parse(JSON.stringify(config).replace('"lora_alpha":2', '"lora_alpha":1e999')), undefined, 0, "lora_alpha must be a positive number"],
    ["a target module that is not a string", { ...config, target_modules: [1] }, undefined, 0, "target_modules holds 1"],
    ["layers 01 and 1 both present", config, JSON.stringify({ ...pair("1", 0), ...pair("01", 32) }), 64, "layer number 01"],
    ["a layer number past 2^53", config, JSON.stringify(pair("12345678901234567890", 0)), 32, "layer number 12345678901234567890"],
    ["lora_A with and without .default", config, JSON.stringify({ ...pair("0", 0), [key("0", "A", ".default")]: f32([1, 4], 32, 48) }), 48, "lora_A twice"],
    ["an empty projection", config, JSON.stringify({ [key("0", "A")]: f32([1, 0], 0, 0), [key("0", "B")]: f32([0, 1], 0, 0) }), 0, "an empty projection"],
  ];
  it("a good folder loads", () => expect(readPeftAdapter(good, shape).pairs.length).toBe(1));
  for (const [what, cfg, header, dataBytes, message] of cases) {
    it(what, () => {
      const dir = adapter(cfg, header, dataBytes);
      expect(() => readPeftAdapter(dir)).toThrow(LoraLoadError);
      expect(() => readPeftAdapter(dir)).toThrow(message);
    });
  }
});
