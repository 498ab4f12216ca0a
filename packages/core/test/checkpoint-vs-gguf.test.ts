// Hugging Face checkpoint folders used in place: the tiny model of every
// architecture written both as GGUF and as a checkpoint (F32 and BF16
// safetensors, one file or sharded) gives the same logits, tokens and greedy
// text through both loaders; `hf:owner/repo` pulls a checkpoint from a local
// stand-in for the hub, resumable and checksummed; bad folders are refused.
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyCheckpoint } from "../src/gguf/tiny-checkpoint.js";
import { makeTinyModel, TINY_FAMILIES, tinyModelParts } from "../src/gguf/tiny-model.js";
import { writeGguf } from "../src/gguf/writer.js";
import { pullModel, resolveModelPath } from "../src/pull/index.js";
import { readSafetensors, writeSafetensors } from "../src/safetensors.js";
import { core, DirectEngine } from "./support/engine.js";

const dir = mkdtempSync(join(tmpdir(), "first-checkpoint-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const FAMILIES = TINY_FAMILIES;

const ids = [40, 7, 113, 9, 250, 31, 64, 18, 200, 5, 77, 141];

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe("a checkpoint folder and its GGUF give the same model", () => {
  for (const f of FAMILIES) {
    it(`${f.arch}: same logits (F32 and BF16 weights), same tokenizer and greedy text through loadModel`, async () => {
      const options = { seed: 4, architecture: f.arch, ...f.options };
      const gguf = join(dir, `${f.arch}.gguf`);
      makeTinyModel(gguf, { ...options, weightType: "F32" });
      const ckpt = join(dir, `${f.arch}-f32`);
      makeTinyCheckpoint(ckpt, options, "F32");
      const opts = { threads: 1, contextLength: 64, maxSequences: 1 };
      expect(maxDiff(new DirectEngine(gguf, opts).nextLogits(ids), new DirectEngine(ckpt, opts).nextLogits(ids))).toBeLessThan(1e-5);

      // BF16: the same rounded matrices in both; the checkpoint's norms and biases are BF16 too.
      const ggufBf16 = join(dir, `${f.arch}-bf16.gguf`);
      makeTinyModel(ggufBf16, { ...options, weightType: "BF16" });
      const ckptBf16 = join(dir, `${f.arch}-bf16`);
      makeTinyCheckpoint(ckptBf16, options, "BF16");
      expect(maxDiff(new DirectEngine(ggufBf16, opts).nextLogits(ids), new DirectEngine(ckptBf16, opts).nextLogits(ids))).toBeLessThan(0.1);

      const lib = await core();
      const a = await lib.loadModel(gguf, { threads: 1, contextLength: 64 });
      const b = await lib.loadModel(ckpt, { threads: 1, contextLength: 64 });
      try {
        const text = "hello world, and the other thing";
        expect(b.tokenize(text)).toEqual(a.tokenize(text));
        const chat = [{ role: "user" as const, content: "hi there" }];
        expect(b.applyChatTemplate(chat)).toEqual(a.applyChatTemplate(chat));
        const ra = await a.generate(text, { temperature: 0, maxTokens: 10 }).result;
        const rb = await b.generate(text, { temperature: 0, maxTokens: 10 }).result;
        expect(rb.tokens).toEqual(ra.tokens);
        expect(rb.text).toEqual(ra.text);
        expect(b.config.architecture).toBe(f.arch);
      } finally {
        await a.close();
        await b.close();
      }
    });
  }

  it("applies a checkpoint's Llama 3 rope scaling as the GGUF's rope_freqs.weight does", () => {
    // The factors as the GGUF converter derives them: wavelengths past
    // original/low slow by `factor`, below original/high stay, between blend.
    const scaling = { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 };
    const { info, metadata, tensors } = tinyModelParts(join(dir, "l3.gguf"), { seed: 4, architecture: "llama" });
    const dim = info.headDim, lowWave = 64 / 1, highWave = 64 / 4;
    const factors = Float32Array.from({ length: dim / 2 }, (_, i) => {
      const wave = (2 * Math.PI) / Math.pow(info.ropeBase, (-2 * i) / dim);
      if (wave < highWave) return 1;
      if (wave > lowWave) return scaling.factor;
      const smooth = (64 / wave - 1) / (4 - 1);
      return 1 / ((1 - smooth) / scaling.factor + smooth);
    });
    expect(new Set(factors).size).toBeGreaterThan(2); // some stay, some slow, some blend
    writeGguf(join(dir, "l3.gguf"), { metadata, tensors: [...tensors, { name: "rope_freqs.weight", type: "F32", shape: [dim / 2], data: factors }] });
    const ckpt = join(dir, "l3-ckpt");
    makeTinyCheckpoint(ckpt, { seed: 4, architecture: "llama" }, "F32");
    const cfgPath = join(ckpt, "config.json");
    writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, "utf8")), rope_scaling: scaling }));
    const opts = { threads: 1, contextLength: 64, maxSequences: 1 };
    const prompt = Array.from({ length: 40 }, (_, i) => 3 + ((i * 37) % 250));
    const scaled = new DirectEngine(ckpt, opts).nextLogits(prompt);
    expect(maxDiff(new DirectEngine(join(dir, "l3.gguf"), opts).nextLogits(prompt), scaled)).toBeLessThan(1e-5);
    expect(maxDiff(new DirectEngine(join(dir, "llama-f32"), opts).nextLogits(prompt), scaled)).toBeGreaterThan(1e-3);
  });

  it("loads a sharded checkpoint (an index and two shards) as the single file", () => {
    const one = join(dir, "qwen2-f32");
    const sharded = join(dir, "qwen2-sharded");
    makeTinyCheckpoint(sharded, { seed: 4, architecture: "qwen2" }, "F32");
    const { tensors } = readSafetensors(join(sharded, "model.safetensors"));
    rmSync(join(sharded, "model.safetensors"));
    const names = [...tensors.keys()];
    const half = Math.ceil(names.length / 2);
    const weightMap: Record<string, string> = {};
    names.forEach((n, i) => (weightMap[n] = i < half ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors"));
    writeSafetensors(join(sharded, "model-00001-of-00002.safetensors"), new Map(names.slice(0, half).map((n) => [n, tensors.get(n)!])));
    writeSafetensors(join(sharded, "model-00002-of-00002.safetensors"), new Map(names.slice(half).map((n) => [n, tensors.get(n)!])));
    writeFileSync(join(sharded, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const opts = { threads: 1, contextLength: 64, maxSequences: 1 };
    expect(maxDiff(new DirectEngine(one, opts).nextLogits(ids), new DirectEngine(sharded, opts).nextLogits(ids))).toBe(0);
  });

  it("refuses bad folders, naming the problem", async () => {
    const lib = await core();
    const bad = (name: string, edit: (d: string) => void) => {
      const d = join(dir, `bad-${name}`);
      makeTinyCheckpoint(d, { seed: 4, architecture: "qwen3", headDim: 32 }, "F32");
      edit(d);
      return d;
    };
    const err = (d: string) => lib.loadModel(d, { threads: 1, contextLength: 32 }).then(async (m) => (await m.close(), "loaded"), (e: Error) => e.message);
    const patchConfig = (patch: Record<string, unknown>) => (d: string) =>
      writeFileSync(join(d, "config.json"), JSON.stringify({ ...JSON.parse(readFileSync(join(d, "config.json"), "utf8")), ...patch }));
    expect(await err(bad("type", patchConfig({ model_type: "mamba" })))).toMatch(/model_type 'mamba' is not supported/);
    expect(await err(bad("rope", patchConfig({ rope_scaling: { rope_type: "yarn", factor: 4 } })))).toMatch(/rope_scaling 'yarn' is not supported/);
    expect(await err(bad("llama3", patchConfig({ rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 1 } })))).toMatch(/low_freq_factor < high_freq_factor/);
    expect(await err(bad("layers", patchConfig({ num_hidden_layers: 50_331_648 })))).toMatch(/block_count' is 50331648/);
    expect(await err(bad("json", (d) => writeFileSync(join(d, "config.json"), "{\"model_type\": \"qwen3\",")))).toMatch(/config.json: invalid JSON/);
    expect(await err(bad("norm", (d) => {
      const st = join(d, "model.safetensors");
      const { tensors } = readSafetensors(st);
      tensors.delete("model.layers.1.self_attn.q_norm.weight");
      writeSafetensors(st, tensors);
    }))).toMatch(/missing tensor 'blk\.1\.attn_q_norm\.weight'/);
    expect(await err(bad("truncated", (d) => {
      const st = join(d, "model.safetensors");
      writeFileSync(st, readFileSync(st).subarray(0, statSync(st).size - 100));
    }))).toMatch(/lies outside the data/);
    expect(await err(bad("misaligned", (d) => {
      // One more space in the header moves every tensor's data off its element size.
      const st = join(d, "model.safetensors");
      const buf = readFileSync(st);
      const len = Number(buf.readBigUInt64LE(0));
      const out = Buffer.concat([buf.subarray(0, 8 + len), Buffer.from(" "), buf.subarray(8 + len)]);
      out.writeBigUInt64LE(BigInt(len + 1), 0);
      writeFileSync(st, out);
    }))).toMatch(/starts at byte \d+, not a multiple of its 4-byte elements/);
    expect(await err(bad("shard", (d) => {
      writeFileSync(join(d, "model.safetensors.index.json"), JSON.stringify({ weight_map: { "model.norm.weight": "../../etc/passwd" } }));
      rmSync(join(d, "model.safetensors"));
    }))).toMatch(/names a shard outside the folder/);
  });
});

describe("hf:owner/repo pulls a checkpoint repository", () => {
  let server: http.Server;
  let base = "";
  const repoDir = join(dir, "served");
  const served: string[] = [];
  let cutOnce = true;

  beforeAll(async () => {
    makeTinyCheckpoint(repoDir, { seed: 4, architecture: "qwen2" }, "BF16");
    writeFileSync(join(repoDir, "README.md"), "not needed by the engine");
    server = http.createServer((req, res) => {
      const url = req.url ?? "";
      served.push(url);
      if (url === "/api/models/tiny/qwen2/tree/main") {
        const files = readdirSync(repoDir).map((p) => {
          const data = readFileSync(join(repoDir, p));
          const lfs = p.endsWith(".safetensors") ? { oid: createHash("sha256").update(data).digest("hex"), size: data.length } : undefined;
          return { type: "file", path: p, size: data.length, ...(lfs ? { lfs } : {}) };
        });
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(files));
        return;
      }
      const m = /^\/tiny\/qwen2\/resolve\/main\/([^/]+)$/.exec(url);
      if (!m) return void res.writeHead(404).end();
      const data = readFileSync(join(repoDir, decodeURIComponent(m[1])));
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
      const start = range ? Number(range[1]) : 0;
      res.writeHead(range ? 206 : 200, { "content-length": data.length - start, ...(range ? { "content-range": `bytes ${start}-${data.length - 1}/${data.length}` } : {}) });
      // The weights' first download breaks off halfway; the next run resumes it.
      if (m[1] === "model.safetensors" && cutOnce && !range) {
        cutOnce = false;
        res.write(data.subarray(0, data.length >> 1), () => setTimeout(() => res.destroy(), 50));
        return;
      }
      res.end(data.subarray(start));
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  it("fetches what the folder needs, resumes a cut download, checks sha256, and the result loads", async () => {
    const env = { FIRST_HOME: join(dir, "home"), HF_ENDPOINT: base };
    await expect(resolveModelPath("hf:tiny/qwen2", { env })).rejects.toThrow(/not in the cache.*first pull hf:tiny\/qwen2/);
    await expect(pullModel("hf:tiny/qwen2", { env })).rejects.toThrow();  // the cut connection
    const events: string[] = [];
    const got = await pullModel("hf:tiny/qwen2", { env, onProgress: (e) => events.push(e.type) });
    expect(served.some((u) => u.includes("README"))).toBe(false);
    expect(readdirSync(got.path).sort()).toEqual([".complete", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]);
    expect(events).toContain("bytes");
    expect(await resolveModelPath("hf:tiny/qwen2", { env })).toBe(got.path);
    const opts = { threads: 1, contextLength: 64, maxSequences: 1 };
    expect(maxDiff(new DirectEngine(repoDir, opts).nextLogits(ids), new DirectEngine(got.path, opts).nextLogits(ids))).toBe(0);
  });
});
