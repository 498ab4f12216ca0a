import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  bf16ToF32,
  dequantize,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  quantize,
} from "../src/gguf/quantize.js";
import { makeTinyLlama } from "../src/gguf/tiny-model.js";
import { encodeGguf, writeGguf } from "../src/gguf/writer.js";

const dir = mkdtempSync(join(tmpdir(), "first-gguf-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hex = (s: string): number[] => (s.replace(/\s+/g, "").match(/../g) ?? []).map((h) => parseInt(h, 16));
const concat = (chunks: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};

// A small GGUF reader for checking what the writer produced.
interface Parsed {
  version: number;
  kv: Map<string, { type: number; value: unknown }>;
  tensors: Array<{ name: string; shape: number[]; type: number; offset: number }>;
  dataStart: number;
}
function parseGguf(bytes: Uint8Array, alignment = 32): Parsed {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let p = 0;
  const u32 = () => ((p += 4), v.getUint32(p - 4, true));
  const u64 = () => ((p += 8), Number(v.getBigUint64(p - 8, true)));
  const str = () => {
    const n = u64();
    p += n;
    return new TextDecoder().decode(bytes.subarray(p - n, p));
  };
  const scalar = (t: number): unknown => {
    switch (t) {
      case 0: return ((p += 1), v.getUint8(p - 1));
      case 1: return ((p += 1), v.getInt8(p - 1));
      case 2: return ((p += 2), v.getUint16(p - 2, true));
      case 3: return ((p += 2), v.getInt16(p - 2, true));
      case 4: return u32();
      case 5: return ((p += 4), v.getInt32(p - 4, true));
      case 6: return ((p += 4), v.getFloat32(p - 4, true));
      case 7: return ((p += 1), v.getUint8(p - 1) === 1);
      case 8: return str();
      case 10: return ((p += 8), v.getBigUint64(p - 8, true));
      case 11: return ((p += 8), v.getBigInt64(p - 8, true));
      case 12: return ((p += 8), v.getFloat64(p - 8, true));
      default: throw new Error(`type ${t}`);
    }
  };
  expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("GGUF");
  p = 4;
  const version = u32();
  const nTensors = u64();
  const nKv = u64();
  const kv = new Map<string, { type: number; value: unknown }>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    if (type === 9) {
      const elem = u32();
      const n = u64();
      const values: unknown[] = [];
      for (let j = 0; j < n; j++) values.push(scalar(elem));
      kv.set(key, { type: 100 + elem, value: values });
    } else {
      kv.set(key, { type, value: scalar(type) });
    }
  }
  const tensors: Parsed["tensors"] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nd = u32();
    const shape = Array.from({ length: nd }, () => u64());
    tensors.push({ name, shape, type: u32(), offset: u64() });
  }
  return { version, kv, tensors, dataStart: Math.ceil(p / alignment) * alignment };
}

describe("writeGguf", () => {
  it("writes header, metadata, tensor infos, padding and data byte for byte", () => {
    const path = join(dir, "exact.gguf");
    writeGguf(path, {
      metadata: [["a", 1]],
      tensors: [{ name: "t", type: "F32", shape: [2], data: new Float32Array([1, -2]) }],
    });
    const expected = hex(`
      47475546 03000000              # "GGUF", version 3
      0100000000000000 0100000000000000  # 1 tensor, 1 key
      0100000000000000 61 04000000 01000000  # "a": u32 1
      0100000000000000 74 01000000 0200000000000000 00000000 0000000000000000  # "t": 1 dim [2], F32, offset 0
    `.replace(/#[^\n]*/g, ""));
    // 74 bytes so far; pad to 96, then 8 bytes of data padded to 32.
    expected.push(...new Array(96 - 74).fill(0));
    expected.push(...hex("0000803f 000000c0"), ...new Array(24).fill(0));
    expect(Array.from(readFileSync(path))).toEqual(expected);
  });

  it("writes version 2 and a custom alignment, with every tensor aligned", () => {
    const bytes = concat(
      encodeGguf({
        version: 2,
        alignment: 64,
        metadata: [["general.name", "x"]],
        tensors: [
          { name: "a", type: "F32", shape: [3], data: new Float32Array([1, 2, 3]) },
          { name: "b", type: "Q8_0", shape: [32, 2], data: new Float32Array(64).fill(0.5) },
          { name: "c", type: "F16", shape: [1, 1, 1, 2], data: new Float32Array([7, 8]) },
        ],
      }),
    );
    const g = parseGguf(bytes, 64);
    expect(g.version).toBe(2);
    expect(g.kv.get("general.alignment")).toEqual({ type: 4, value: 64 });
    expect(g.tensors.map((t) => [t.name, t.offset, t.type])).toEqual([
      ["a", 0, 0],
      ["b", 64, 8],
      ["c", 192, 1],
    ]);
    expect(g.tensors[2].shape).toEqual([1, 1, 1, 2]);
    expect(g.dataStart % 64).toBe(0);
    expect(bytes.length).toBe(g.dataStart + 256);
    const view = new DataView(bytes.buffer);
    expect(view.getFloat32(g.dataStart + 8, true)).toBe(3);
    expect(view.getUint16(g.dataStart + 192 + 2, true)).toBe(0x4800); // f16 8.0
    // A matching general.alignment in metadata is accepted and sets the alignment.
    const own = parseGguf(
      concat(encodeGguf({ metadata: [["general.alignment", { type: "u32", value: 16 }]], tensors: [] })),
      16,
    );
    expect(own.kv.get("general.alignment")?.value).toBe(16);
  });

  it("picks default value types and honours tagged ones", () => {
    const g = parseGguf(
      concat(
        encodeGguf({
          metadata: [
            ["s", "héllo"],
            ["b", true],
            ["u", 4000000000],
            ["neg", -5],
            ["big", 2 ** 40],
            ["frac", 0.5],
            ["bi", 5n],
            ["strs", ["x", "yz"]],
            ["ints", [1, -2]],
            ["floats", [1, 0.5]],
            ["bools", [true, false]],
            ["u8", { type: "u8", value: 255 }],
            ["i8", { type: "i8", value: -128 }],
            ["u16", { type: "u16", value: 65535 }],
            ["i16", { type: "i16", value: -32768 }],
            ["i32", { type: "i32", value: 7 }],
            ["f32", { type: "f32", value: 2 }],
            ["f64", { type: "f64", value: 0.1 }],
            ["u64", { type: "u64", value: 2n ** 64n - 1n }],
            ["i64", { type: "i64", value: -3 }],
            ["flag", { type: "bool", value: false }],
            ["scores", { type: "array", elemType: "f32", value: [0, 1] }],
            ["u64s", { type: "array", elemType: "u64", value: [1, 2n] }],
          ],
          tensors: [],
        }),
      ),
    );
    const types = Object.fromEntries([...g.kv].map(([k, v]) => [k, v.type]));
    expect(types).toEqual({
      s: 8, b: 7, u: 4, neg: 5, big: 11, frac: 6, bi: 11,
      strs: 108, ints: 105, floats: 106, bools: 107,
      u8: 0, i8: 1, u16: 2, i16: 3, i32: 5, f32: 6, f64: 12, u64: 10, i64: 11, flag: 7,
      scores: 106, u64s: 110,
    });
    expect(g.kv.get("s")?.value).toBe("héllo");
    expect(g.kv.get("u")?.value).toBe(4000000000);
    expect(g.kv.get("big")?.value).toBe(2n ** 40n);
    expect(g.kv.get("strs")?.value).toEqual(["x", "yz"]);
    expect(g.kv.get("ints")?.value).toEqual([1, -2]);
    expect(g.kv.get("u64")?.value).toBe(2n ** 64n - 1n);
    expect(g.kv.get("i16")?.value).toBe(-32768);
    expect(g.kv.get("f64")?.value).toBe(0.1);
  });

  it("refuses bad input and leaves no file behind", () => {
    const sub = mkdtempSync(join(dir, "bad-"));
    const path = join(sub, "bad.gguf");
    const tensor = { name: "t", type: "F32" as const, shape: [2], data: new Float32Array(2) };
    const bad: Array<[Parameters<typeof writeGguf>[1], RegExp]> = [
      [{ metadata: [["k", 1], ["k", 2]], tensors: [] }, /appears twice/],
      [{ metadata: [], tensors: [tensor, tensor] }, /appears twice/],
      [{ metadata: [], tensors: [{ ...tensor, shape: [3] }] }, /2 values/],
      [{ metadata: [], tensors: [{ ...tensor, shape: [0] }] }, /dimension 0/],
      [{ metadata: [], tensors: [{ ...tensor, shape: [1, 1, 1, 1, 2] }] }, /5 dimensions/],
      [{ metadata: [], tensors: [{ ...tensor, type: "Q8_0", shape: [16], data: new Float32Array(16) }] }, /block size 32/],
      [{ alignment: 48, metadata: [], tensors: [] }, /power of two/],
      [{ alignment: 64, metadata: [["general.alignment", 32]], tensors: [] }, /disagrees/],
      [{ metadata: [["general.alignment", "32"]], tensors: [] }, /u32/],
      [{ metadata: [["x", { type: "u8", value: 256 }]], tensors: [] }, /not a valid u8/],
      [{ metadata: [["x", { type: "u32", value: 1.5 }]], tensors: [] }, /not a valid u32/],
      [{ metadata: [["x", 2 ** 60]], tensors: [] }, /safe integer/],
      [{ metadata: [["x", { type: "array", elemType: "i32", value: ["a"] }]], tensors: [] }, /not a valid i32/],
      [{ metadata: [["", 1]], tensors: [] }, /empty/],
    ];
    for (const [opts, message] of bad) expect(() => writeGguf(path, opts)).toThrow(message);
    expect(readdirSync(sub)).toEqual([]);
    // A failed write does not touch an existing file either.
    writeGguf(path, { metadata: [["k", 1]], tensors: [] });
    const before = readFileSync(path);
    expect(() => writeGguf(path, { metadata: [["k", 1], ["k", 1]], tensors: [] })).toThrow();
    expect(readFileSync(path)).toEqual(before);
    expect(readdirSync(sub)).toEqual(["bad.gguf"]);
  });
});

describe("quantize", () => {
  // x_j = j - 16: amax 16 so d = 16/127 (f16 0x3008) and q_j = roundf(x_j * 127/16);
  // x = -8 and 8 land on -63.5 and 63.5, which C's roundf takes away from zero.
  it("Q8_0 matches a hand-computed block", () => {
    const x = Float32Array.from({ length: 32 }, (_, j) => j - 16);
    const q = quantize("Q8_0", x);
    expect(q.length).toBe(34);
    expect(q[0] | (q[1] << 8)).toBe(0x3008);
    const qs = Array.from(new Int8Array(q.buffer, 2, 32));
    expect(qs).toEqual([
      -127, -119, -111, -103, -95, -87, -79, -71, -64, -56, -48, -40, -32, -24, -16, -8,
      0, 8, 16, 24, 32, 40, 48, 56, 64, 71, 79, 87, 95, 103, 111, 119,
    ]);
    expect(quantize("Q8_0", new Float32Array(32))).toEqual(new Uint8Array(34)); // all zero: d = 0
  });

  // Same x: the largest magnitude is -16, so d = -16 / -8 = 2 (f16 0x4000) and
  // q_j = min(15, trunc(x_j / 2 + 8.5)). Byte j holds q_j low and q_{j+16} high.
  it("Q4_0 matches a hand-computed block", () => {
    const x = Float32Array.from({ length: 32 }, (_, j) => j - 16);
    const q = quantize("Q4_0", x);
    expect(q.length).toBe(18);
    expect(q[0] | (q[1] << 8)).toBe(0x4000);
    const nib = (j: number) => Math.min(15, Math.floor((j + 1) / 2));
    expect(Array.from(q.subarray(2))).toEqual(Array.from({ length: 16 }, (_, j) => nib(j) | (nib(j + 16) << 4)));
    expect(q[2]).toBe(0x80); // element 0 -> 0, element 16 -> 8
    expect(q[17]).toBe(0xf8); // element 15 -> 8, element 31 -> 15 (clamped from 16)
  });

  // x_j = j / 4: m = 0, d = 7.75 / 15 (f16 0x3822), q_j = trunc(x_j / d + 0.5) = floor(j / 2).
  it("Q4_1 matches a hand-computed block", () => {
    const x = Float32Array.from({ length: 32 }, (_, j) => j / 4);
    const q = quantize("Q4_1", x);
    expect(q.length).toBe(20);
    expect(q[0] | (q[1] << 8)).toBe(0x3822);
    expect(q[2] | (q[3] << 8)).toBe(0);
    expect(Array.from(q.subarray(4))).toEqual(
      Array.from({ length: 16 }, (_, j) => Math.floor(j / 2) | (Math.floor((j + 16) / 2) << 4)),
    );
  });

  it("F16 and BF16 round to nearest even", () => {
    const f16 = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [2 ** -24, 0x0001], [0.1, 0x2e66],
      [2 ** -25, 0], [3 * 2 ** -26, 0x0001], [1e-8, 0], [-0, 0x8000], [Infinity, 0x7c00], [6.1035156e-5, 0x0400],
      [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
    ];
    for (const [x, h] of f16) expect([x, f32ToF16(x)]).toEqual([x, h]);
    expect(f32ToF16(NaN) & 0x7c00).toBe(0x7c00);
    expect(f16ToF32(0x3555)).toBeCloseTo(0.33325, 5);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    const bf16 = [[1, 0x3f80], [0.1, 0x3dcd], [-2, 0xc000], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82]];
    for (const [x, h] of bf16) expect([x, f32ToBf16(x)]).toEqual([x, h]);
    expect(bf16ToF32(0x3dcd)).toBe(0.10009765625);
    const f = quantize("F16", new Float32Array([1, -2]));
    expect(Array.from(f)).toEqual([0x00, 0x3c, 0x00, 0xc0]);
  });

  it("dequantizes what it quantized within each format's error", () => {
    let s = 7;
    const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const x = Float32Array.from({ length: 256 }, rand);
    const tol = { F32: 0, F16: 1e-3, BF16: 8e-3, Q8_0: 1 / 127, Q4_0: 1 / 8 + 1e-3, Q4_1: 2 / 30 + 1e-3 } as const;
    for (const [type, t] of Object.entries(tol) as Array<[keyof typeof tol, number]>) {
      const back = dequantize(type, quantize(type, x), x.length);
      const err = Math.max(...x.map((v, i) => Math.abs(v - back[i])));
      expect(err, type).toBeLessThanOrEqual(t);
    }
  });
});

describe("makeTinyLlama", () => {
  it("writes a llama GGUF with the expected tensors and keys, deterministically", () => {
    const a = join(dir, "tiny-a.gguf");
    const b = join(dir, "tiny-b.gguf");
    const info = makeTinyLlama(a, { seed: 5 });
    makeTinyLlama(b, { seed: 5 });
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    makeTinyLlama(b, { seed: 6 });
    expect(readFileSync(a).equals(readFileSync(b))).toBe(false);

    expect(info).toMatchObject({ layers: 4, dim: 64, heads: 4, kvHeads: 2, headDim: 16, ffn: 128, contextLength: 256 });
    expect(info.vocabSize).toBeGreaterThan(290);
    const g = parseGguf(readFileSync(a));
    const shapes = Object.fromEntries(g.tensors.map((t) => [t.name, t.shape]));
    expect(g.tensors.length).toBe(1 + 4 * 9 + 2);
    expect(shapes["token_embd.weight"]).toEqual([64, info.vocabSize]);
    expect(shapes["blk.0.attn_q.weight"]).toEqual([64, 64]);
    expect(shapes["blk.0.attn_k.weight"]).toEqual([64, 32]);
    expect(shapes["blk.3.attn_v.weight"]).toEqual([64, 32]);
    expect(shapes["blk.1.ffn_gate.weight"]).toEqual([64, 128]);
    expect(shapes["blk.1.ffn_down.weight"]).toEqual([128, 64]);
    expect(shapes["output_norm.weight"]).toEqual([64]);
    expect(shapes["output.weight"]).toEqual([64, info.vocabSize]);
    const value = (k: string) => g.kv.get(k)?.value;
    expect(value("general.architecture")).toBe("llama");
    expect(value("llama.block_count")).toBe(4);
    expect(value("llama.attention.head_count_kv")).toBe(2);
    expect(value("llama.rope.dimension_count")).toBe(16);
    expect(value("tokenizer.ggml.model")).toBe("gpt2");
    const tokens = value("tokenizer.ggml.tokens") as string[];
    expect(tokens.length).toBe(info.vocabSize);
    expect(tokens.slice(0, 3)).toEqual(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]);
    expect(tokens).toContain("Ġ"); // byte 32
    expect(tokens).toContain("Ċ"); // byte 10
    expect(value("tokenizer.chat_template")).toContain("<|im_start|>");

    const q = join(dir, "tiny-q41.gguf");
    makeTinyLlama(q, { weightType: "Q4_1", embeddingType: "Q8_0", tiedOutput: true });
    const gq = parseGguf(readFileSync(q));
    expect(gq.tensors.find((t) => t.name === "output.weight")).toBeUndefined();
    expect(gq.tensors.find((t) => t.name === "token_embd.weight")?.type).toBe(8);
    expect(gq.tensors.find((t) => t.name === "blk.0.attn_q.weight")?.type).toBe(3);
    expect(gq.tensors.find((t) => t.name === "blk.0.attn_norm.weight")?.type).toBe(0);
    expect(gq.kv.get("general.file_type")?.value).toBe(3);
  });

  it("is loaded by llama.cpp (node-llama-cpp), which tokenizes and evaluates it", async () => {
    const { getLlama } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
    for (const weightType of ["F32", "Q4_1"] as const) {
      const path = join(dir, `tiny-llama-${weightType}.gguf`);
      const info = makeTinyLlama(path, { weightType, tiedOutput: weightType === "Q4_1" });
      const model = await llama.loadModel({ modelPath: path });
      try {
        expect(model.trainContextSize).toBe(256);
        const ids = model.tokenize("hello world<|im_end|>", true);
        expect(Array.from(ids)).toEqual([
          info.tokens.indexOf("hello"),
          info.tokens.indexOf("Ġworld"),
          info.eosId,
        ]);
        expect(model.detokenize(model.tokenize("the cat, 3 é"))).toBe("the cat, 3 é");
        const context = await model.createContext({ contextSize: 64 });
        try {
          const seq = context.getSequence();
          const out: number[] = [];
          for await (const tok of seq.evaluate(model.tokenize("hello"), { temperature: 0 })) {
            out.push(tok);
            if (out.length === 2) break;
          }
          expect(out.every((t) => t >= 0 && t < info.vocabSize)).toBe(true);
        } finally {
          await context.dispose();
        }
      } finally {
        await model.dispose();
      }
    }
  });
});
