// loadModel on files that are not usable models: each is refused with a
// ModelLoadError whose message says what is wrong, and nothing crashes.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dequantize, type GgufTensorType } from "../src/gguf/quantize.js";
import { makeTinyLlama } from "../src/gguf/tiny-model.js";
import { writeGguf, type GgufWriteValue } from "../src/gguf/writer.js";
import { core, native } from "./support/engine.js";

const dir = mkdtempSync(join(tmpdir(), "first-bad-model-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const good = makeTinyLlama(join(dir, "good.gguf"), { seed: 2, weightType: "F32", layers: 2 });

/** Rewrites the good model with changed metadata and tensors (all written as F32). */
function rewrite(
  name: string,
  change: (metadata: Array<[string, GgufWriteValue]>, tensors: Array<{ name: string; shape: number[]; data: Float32Array }>) => void,
): string {
  const info = native().readGguf(good.path);
  const bytes = readFileSync(good.path);
  const dataStart = info.fileSize - Math.max(...info.tensors.map((t) => t.offset + t.nBytes));
  const metadata = Object.entries(info.metadata).map(([k, v]): [string, GgufWriteValue] => {
    if (/freq_base|epsilon/.test(k)) return [k, { type: "f32", value: v as number }];
    if (k === "tokenizer.ggml.token_type") return [k, { type: "array", elemType: "i32", value: v as number[] }];
    return [k, v as GgufWriteValue];
  });
  const tensors = info.tensors.map((t) => ({
    name: t.name,
    shape: t.shape,
    data: dequantize(t.type as GgufTensorType, bytes.subarray(dataStart + t.offset, dataStart + t.offset + t.nBytes), t.shape.reduce((a, b) => a * b, 1)),
  }));
  change(metadata, tensors);
  const path = join(dir, name);
  writeGguf(path, { metadata, tensors: tensors.map((t) => ({ ...t, type: "F32" as const })) });
  return path;
}

let lib: Awaited<ReturnType<typeof core>>;
beforeAll(async () => {
  lib = await core();
});

async function loadError(path: string): Promise<Error> {
  const err = await lib.loadModel(path, { threads: 1, contextLength: 32, pull: false }).then(
    async (m) => {
      await m.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(err, `${path} loaded`).toBeInstanceOf(lib.ModelLoadError);
  return err as Error;
}

describe("loadModel on bad files", () => {
  it("loads the good tiny model (the baseline for the cases below)", async () => {
    const m = await lib.loadModel(good.path, { threads: 1, contextLength: 32 });
    expect(m.config.nLayers).toBe(2);
    await m.close();
    const same = rewrite("same.gguf", () => undefined);
    const m2 = await lib.loadModel(same, { threads: 1, contextLength: 32 });
    await m2.close();
  });

  it("refuses a truncated file", async () => {
    const bytes = readFileSync(good.path);
    const half = join(dir, "truncated.gguf");
    writeFileSync(half, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expect((await loadError(half)).message).toMatch(/past the end/);
    const header = join(dir, "header-only.gguf");
    writeFileSync(header, bytes.subarray(0, 40));
    expect((await loadError(header)).message).toMatch(/truncated|past the end|impossible|end of file/i);
  });

  it("refuses a file with a corrupt magic", async () => {
    const bytes = Buffer.from(readFileSync(good.path));
    bytes.write("GGML", 0, "latin1");
    const path = join(dir, "magic.gguf");
    writeFileSync(path, bytes);
    expect((await loadError(path)).message).toMatch(/magic|not a GGUF/i);
  });

  it("refuses an architecture it does not know, naming it and the supported ones", async () => {
    const path = rewrite("gpt2.gguf", (metadata) => {
      for (const entry of metadata) {
        if (entry[0] === "general.architecture") entry[1] = "gpt2";
        else if (entry[0].startsWith("llama.")) entry[0] = `gpt2.${entry[0].slice("llama.".length)}`;
      }
    });
    const message = (await loadError(path)).message;
    expect(message).toMatch(/gpt2/);
    expect(message).toMatch(/llama, qwen2, qwen3, gemma3, phi3/);
  });

  it("refuses a family's missing tensor: a llama file declared qwen3 lacks the per-head q/k norms", async () => {
    const path = rewrite("qwen3-without-norms.gguf", (metadata) => {
      for (const entry of metadata) {
        if (entry[0] === "general.architecture") entry[1] = "qwen3";
        else if (entry[0].startsWith("llama.")) entry[0] = `qwen3.${entry[0].slice("llama.".length)}`;
      }
    });
    expect((await loadError(path)).message).toMatch(/missing tensor 'blk\.0\.attn_q_norm\.weight' \(architecture qwen3\)/);
  });

  it("refuses a tensor the layer would not use instead of ignoring it", async () => {
    const path = rewrite("extra-tensor.gguf", (_, tensors) => {
      tensors.push({ name: "blk.0.attn_output.bias", shape: [good.dim], data: new Float32Array(good.dim) });
    });
    expect((await loadError(path)).message).toMatch(/does not use: blk\.0\.attn_output\.bias/);
  });

  it("refuses a block_count the file cannot hold before sizing anything by it", async () => {
    const path = rewrite("huge-block-count.gguf", (metadata) => {
      for (const entry of metadata) if (entry[0] === "llama.block_count") entry[1] = { type: "u32", value: 50_331_648 };
    });
    const started = Date.now();
    const before = process.memoryUsage().rss;
    expect((await loadError(path)).message).toMatch(/block_count' is 50331648, outside 1\.\.\d+/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 * 1024 * 1024);
  });

  it("refuses a model with a missing tensor, naming it", async () => {
    const path = rewrite("missing-tensor.gguf", (_, tensors) => {
      tensors.splice(tensors.findIndex((t) => t.name === "blk.1.attn_q.weight"), 1);
    });
    expect((await loadError(path)).message).toMatch(/blk\.1\.attn_q\.weight/);
  });

  it("refuses a tensor of the wrong shape, naming it", async () => {
    const path = rewrite("bad-shape.gguf", (_, tensors) => {
      const t = tensors.find((x) => x.name === "blk.0.ffn_up.weight")!;
      t.shape = [t.shape[0], t.shape[1] / 2];
      t.data = t.data.subarray(0, t.data.length / 2);
    });
    expect((await loadError(path)).message).toMatch(/blk\.0\.ffn_up\.weight/);
  });

  it("refuses a missing file", async () => {
    const path = join(dir, "does-not-exist.gguf");
    expect((await loadError(path)).message).toContain("does-not-exist.gguf");
  });
});
