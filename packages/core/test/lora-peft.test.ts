// PEFT LoRA folders: what we write has PEFT's names, shapes and config, reads
// back identically, and bad adapters fail with messages naming the problem.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readPeftAdapter, writePeftAdapter, type LoraModelShape, type LoraPair } from "../src/lora/peft.js";
import { readSafetensors, writeSafetensors } from "../src/safetensors.js";

const shape: LoraModelShape = { nLayers: 3, dModel: 8, nHeads: 4, nKvHeads: 2, headDim: 2, ffnDim: 12 };
const root = mkdtempSync(join(tmpdir(), "first-lora-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function pairs(rank: number): LoraPair[] {
  const dims = { q: [8, 8], k: [8, 4], down: [12, 8] } as const;
  return [0, 2].flatMap((layer) =>
    (Object.keys(dims) as (keyof typeof dims)[]).map((module) => ({
      layer,
      module,
      a: Float32Array.from({ length: rank * dims[module][0] }, (_, i) => i * 0.01 + layer),
      b: Float32Array.from({ length: dims[module][1] * rank }, (_, i) => -i * 0.02),
    })),
  );
}

describe("PEFT adapters", () => {
  it("writes PEFT's key names, [r, in] / [out, r] shapes and adapter_config.json, and reads them back", () => {
    const dir = join(root, "ours");
    writePeftAdapter(dir, { rank: 2, alpha: 4, targets: ["q", "k", "down"], baseModel: "tiny", pairs: pairs(2) }, shape, "F32");
    const cfg = JSON.parse(readFileSync(join(dir, "adapter_config.json"), "utf8"));
    expect(cfg).toMatchObject({ peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: ["q_proj", "k_proj", "down_proj"], base_model_name_or_path: "tiny" });
    const { tensors } = readSafetensors(join(dir, "adapter_model.safetensors"));
    expect(tensors.get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")!.shape).toEqual([2, 8]);
    expect(tensors.get("base_model.model.model.layers.0.self_attn.k_proj.lora_B.weight")!.shape).toEqual([4, 2]);
    expect(tensors.get("base_model.model.model.layers.2.mlp.down_proj.lora_A.weight")!.shape).toEqual([2, 12]);
    expect(tensors.get("base_model.model.model.layers.2.mlp.down_proj.lora_B.weight")!.shape).toEqual([8, 2]);
    expect(tensors.size).toBe(12);
    const back = readPeftAdapter(dir, shape);
    expect(back.scale).toBe(2);
    expect(back.targets).toEqual(["q", "k", "down"]);
    expect(back.pairs.map((p) => `${p.layer}.${p.module}`)).toEqual(["0.q", "0.k", "0.down", "2.q", "2.k", "2.down"]);
    expect(Array.from(back.pairs[5].b)).toEqual(Array.from(pairs(2)[5].b));
  });

  it("writes F16 by default and BF16 on request: IEEE bit patterns, half the bytes, read back rounded", () => {
    const known = Float32Array.of(1, -2, 0.1, 65504, 1e-8, 0.333333);
    const f16Bits = [0x3c00, 0xc000, 0x2e66, 0x7bff, 0x0000, 0x3555]; // from the IEEE 754 binary16 layout
    const bf16Bits = [0x3f80, 0xc000, 0x3dcd, 0x4780, 0x322c, 0x3eab];
    const payload = pairs(2).map((p, i) => (i === 0 ? { ...p, a: Float32Array.from({ length: p.a.length }, (_, j) => known[j % known.length]) } : p));
    const adapter = { rank: 2, alpha: 4, targets: ["q", "k", "down"] as const, pairs: payload };
    const sizes: Record<string, number> = {};
    for (const [dtype, bits] of [["F16", f16Bits], ["BF16", bf16Bits], ["F32", null]] as const) {
      const dir = join(root, `dtype-${dtype}`);
      if (dtype === "F16") writePeftAdapter(dir, { ...adapter, targets: [...adapter.targets] }, shape);
      else writePeftAdapter(dir, { ...adapter, targets: [...adapter.targets] }, shape, dtype);
      const file = join(dir, "adapter_model.safetensors");
      const buf = readFileSync(file);
      const headerLength = Number(buf.readBigUInt64LE(0));
      sizes[dtype] = buf.length - 8 - headerLength; // tensor bytes
      const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString("utf8"));
      const key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
      expect(header[key].dtype).toBe(dtype);
      expect((8 + headerLength) % 8).toBe(0);
      if (bits) {
        const at = 8 + headerLength + header[key].data_offsets[0];
        expect(Array.from({ length: bits.length }, (_, j) => buf.readUInt16LE(at + 2 * j))).toEqual(bits);
      }
      const back = readPeftAdapter(dir, shape);
      const a = back.pairs.find((p) => p.layer === 0 && p.module === "q")!.a;
      const rel = dtype === "F16" ? 2 ** -11 : dtype === "BF16" ? 2 ** -8 : 0;
      for (let j = 0; j < a.length; j++) {
        const want = payload[0].a[j];
        if (Math.abs(want) >= 1e-4) expect(Math.abs(a[j] - want)).toBeLessThanOrEqual(rel * Math.abs(want));
      }
    }
    expect(sizes.F16 * 2).toBe(sizes.F32);
    expect(sizes.BF16).toBe(sizes.F16);
  });

  it("reads adapters saved by PEFT with an adapter name in the keys and rsLoRA scaling", () => {
    const dir = join(root, "peft");
    writePeftAdapter(dir, { rank: 4, alpha: 8, targets: ["q"], pairs: pairs(4).filter((p) => p.module === "q") }, shape);
    const st = join(dir, "adapter_model.safetensors");
    const { tensors } = readSafetensors(st);
    writeSafetensors(st, new Map([...tensors].map(([k, v]) => [k.replace(".weight", ".default.weight"), v])));
    const cfgPath = join(dir, "adapter_config.json");
    writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, "utf8")), use_rslora: true }));
    const a = readPeftAdapter(dir, shape);
    expect(a.scale).toBe(4);
    expect(a.pairs).toHaveLength(2);
  });

  it("reads Phi-3's fused qkv_proj and gate_up_proj as q, k, v and gate, up sharing A, B split by rows", () => {
    const dir = join(root, "fused");
    const rank = 2;
    const qkvOut = 8 + 4 + 4, gateUpOut = 2 * 12;
    const A1 = Float32Array.from({ length: rank * 8 }, (_, i) => i * 0.1);
    const B1 = Float32Array.from({ length: qkvOut * rank }, (_, i) => i);
    const A2 = Float32Array.from({ length: rank * 8 }, (_, i) => -i * 0.1);
    const B2 = Float32Array.from({ length: gateUpOut * rank }, (_, i) => 100 + i);
    const key = (m: string, w: string) => `base_model.model.model.layers.1.${m}.lora_${w}.weight`;
    mkdirSync(dir, { recursive: true });
    writeSafetensors(join(dir, "adapter_model.safetensors"), new Map([
      [key("self_attn.qkv_proj", "A"), { dtype: "F32" as const, shape: [rank, 8], data: A1 }],
      [key("self_attn.qkv_proj", "B"), { dtype: "F32" as const, shape: [qkvOut, rank], data: B1 }],
      [key("mlp.gate_up_proj", "A"), { dtype: "F32" as const, shape: [rank, 8], data: A2 }],
      [key("mlp.gate_up_proj", "B"), { dtype: "F32" as const, shape: [gateUpOut, rank], data: B2 }],
    ]));
    writeFileSync(join(dir, "adapter_config.json"), JSON.stringify({ peft_type: "LORA", r: rank, lora_alpha: 4, target_modules: ["qkv_proj", "gate_up_proj"] }));
    const a = readPeftAdapter(dir, shape);
    expect(a.targets).toEqual(["q", "k", "v", "gate", "up"]);
    const by = Object.fromEntries(a.pairs.map((p) => [p.module, p]));
    expect(Array.from(by.q.b)).toEqual(Array.from(B1.subarray(0, 8 * rank)));
    expect(Array.from(by.k.b)).toEqual(Array.from(B1.subarray(8 * rank, 12 * rank)));
    expect(Array.from(by.v.b)).toEqual(Array.from(B1.subarray(12 * rank)));
    expect(Array.from(by.gate.b)).toEqual(Array.from(B2.subarray(0, 12 * rank)));
    expect(Array.from(by.up.b)).toEqual(Array.from(B2.subarray(12 * rank)));
    for (const m of ["q", "k", "v"]) expect(Array.from(by[m].a)).toEqual(Array.from(A1));
    // A fused B must cover every part's rows; and without the model's shape it cannot be split.
    expect(() => readPeftAdapter(dir)).toThrow(/fused self_attn\.qkv_proj.*load it with a model|fused mlp\.gate_up_proj/);
    writeSafetensors(join(dir, "adapter_model.safetensors"), new Map([
      [key("self_attn.qkv_proj", "A"), { dtype: "F32" as const, shape: [rank, 8], data: A1 }],
      [key("self_attn.qkv_proj", "B"), { dtype: "F32" as const, shape: [qkvOut - 4, rank], data: B1.subarray(0, (qkvOut - 4) * rank) }],
    ]));
    expect(() => readPeftAdapter(dir, shape)).toThrow(/qkv_proj: lora_A is \[2,8\] and lora_B \[12,2\]; this model needs \[2,8\] and \[16,2\]/);
  });

  it("rejects unknown modules, wrong shapes, a rank mismatch and layers the model lacks", () => {
    const make = (name: string, edit: (dir: string) => void) => {
      const dir = join(root, name);
      writePeftAdapter(dir, { rank: 2, alpha: 4, targets: ["q", "k", "down"], pairs: pairs(2) }, shape);
      edit(dir);
      return dir;
    };
    const cfgEdit = (patch: Record<string, unknown>) => (dir: string) => {
      const p = join(dir, "adapter_config.json");
      writeFileSync(p, JSON.stringify({ ...JSON.parse(readFileSync(p, "utf8")), ...patch }));
    };
    expect(() => readPeftAdapter(make("unknown-target", cfgEdit({ target_modules: ["q_proj", "c_attn"] })), shape)).toThrow(/unknown target module "c_attn"/);
    expect(() => readPeftAdapter(make("rank", cfgEdit({ r: 3 })), shape)).toThrow(/r = 3/);
    expect(() => readPeftAdapter(make("type", cfgEdit({ peft_type: "IA3" })), shape)).toThrow(/only "LORA"/);
    expect(() => readPeftAdapter(join(root, "ours"), { ...shape, dModel: 16 })).toThrow(/this model needs \[2,16\]/);
    expect(() => readPeftAdapter(join(root, "ours"), { ...shape, nLayers: 2 })).toThrow(/layer 2; the model has 2 layers/);
    const renamed = make("module", (dir) => {
      const st = join(dir, "adapter_model.safetensors");
      const { tensors } = readSafetensors(st);
      writeSafetensors(st, new Map([...tensors].map(([k, v]) => [k.replace("self_attn.q_proj", "self_attn.c_attn"), v])));
    });
    expect(() => readPeftAdapter(renamed, shape)).toThrow(/unknown module "self_attn.c_attn"/);
    expect(() => readPeftAdapter(join(root, "missing"))).toThrow(/adapter_config.json is missing/);
  });
});
