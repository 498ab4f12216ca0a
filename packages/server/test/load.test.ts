// Load on 127.0.0.1, bounded in count and time: 64 concurrent greedy streams
// mixing the full model, a fixed policy, routers, layer budgets and two
// adapters, a quarter of them cancelled at random points. Every stream that
// finishes equals its solo output token for token (nothing lost or
// cross-wired), every slot is free at the end, and resident memory stays bounded.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";
import { moduleDims, writePeftAdapter, type LoraModelShape, type LoraPair } from "../../core/src/lora/peft.js";
import { saveRouters } from "../../core/src/routers/checkpoint.js";
import { fileSha256 } from "../../core/src/routers/model-identity.js";
import { TrainRandom } from "../../train/src/random.js";
import { createServer, type FirstServer } from "../src/index.js";

let dir = "";
let server: FirstServer;
let client: OpenAI;
let base = "";

function adapter(name: string, seed: number, shape: LoraModelShape): string {
  const rng = new TrainRandom(seed);
  const pairs: LoraPair[] = [];
  for (let layer = 0; layer < shape.nLayers; layer++)
    for (const module of ["q", "down"] as const) {
      const [i, o] = moduleDims(module, shape);
      pairs.push({ layer, module, a: Float32Array.from({ length: 4 * i }, () => rng.uniform(0.2)), b: Float32Array.from({ length: o * 4 }, () => rng.uniform(0.4)) });
    }
  const out = path.join(dir, name);
  writePeftAdapter(out, { rank: 4, alpha: 8, targets: ["q", "down"], pairs }, shape);
  return out;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "first-server-load-"));
  const modelPath = makeTinyLlama(path.join(dir, "tiny.gguf"), { layers: 6, seed: 11 }).path;
  const d = 64;
  // Input-dependent routers: each reads one coordinate of the prompt's mean state.
  const layers = Array.from({ length: 6 }, (_, l) => {
    if (l === 0 || l === 5) return null;
    const w = new Float32Array(d);
    w[(l * 13) % d] = 40;
    return { fcWeight: w, fcBias: 0 };
  });
  saveRouters(path.join(dir, "routers"), { config: { kind: "linear", dModel: d, hidden: 0, nLayers: 6, exempt: [0, 5], threshold: 0.5, normEps: 1e-5 }, layers },
    { architecture: "llama", nLayers: 6, dModel: d, sha256: await fileSha256(modelPath) });
  const shape: LoraModelShape = { nLayers: 6, dModel: 64, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 128 };
  server = createServer({
    models: [{ id: "tiny", source: modelPath }],
    adapters: [{ name: "a1", dir: adapter("a1", 1, shape) }, { name: "a2", dir: adapter("a2", 2, shape) }],
    routers: [{ name: "default", dir: path.join(dir, "routers") }],
    threads: 1, parallel: 8, queue: 64, ctx: 256,
  });
  base = await server.listen(0, "127.0.0.1");
  await server.ready;
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "none", maxRetries: 0, timeout: 60_000 });
});

afterAll(async () => {
  await server?.close(1000);
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Job {
  model: string;
  prompt: string;
  first?: Record<string, unknown>;
  cancelAfter?: number;
}

async function stream(job: Job): Promise<{ text: string; cancelled: boolean; layers?: number }> {
  const controller = new AbortController();
  const s = await client.completions.create(
    { model: job.model, prompt: job.prompt, max_tokens: 40, temperature: 0, stream: true, stream_options: { include_usage: true }, ...(job.first ? { first: job.first } : {}) } as never,
    { signal: controller.signal },
  ) as unknown as AsyncIterable<OpenAI.Completion>;
  let text = "", pieces = 0, layers: number | undefined;
  try {
    for await (const c of s) {
      text += c.choices[0]?.text ?? "";
      if (c.usage) layers = (c.usage as unknown as { first: { executed_layers: number } }).first.executed_layers;
      if (job.cancelAfter !== undefined && ++pieces >= job.cancelAfter) {
        controller.abort();
        return { text, cancelled: true };
      }
    }
  } catch (err) {
    if (controller.signal.aborted) return { text, cancelled: true };
    throw err;
  }
  return { text, cancelled: false, layers };
}

describe("the server under load", () => {
  it("64 mixed streams, a quarter cancelled: every finished one equals its solo run; all slots free", async () => {
    const rng = new TrainRandom(5);
    const kinds: Omit<Job, "prompt">[] = [
      { model: "tiny" },
      { model: "tiny", first: { policy: "uls:2" } },
      { model: "tiny", first: { routers: "default" } },
      { model: "tiny", first: { routers: "default", layer_budget: 4 } },
      { model: "a1", first: { routers: "default", layer_budget: 3 } },
      { model: "a2" },
      { model: "a1" },
      { model: "a2", first: { policy: "last:1" } },
    ];
    const jobs: Job[] = Array.from({ length: 64 }, (_, i) => ({
      ...kinds[i % kinds.length],
      prompt: `request ${i}: ${["the cat", "numbers 1 2 3", "a river runs", "hello world"][i % 4]} ${"x ".repeat(i % 5)}`,
      cancelAfter: i % 4 === 3 ? 1 + Math.floor(rng.next() * 6) : undefined,
    }));
    const rssBefore = process.memoryUsage().rss;
    const started = Date.now();
    const results = await Promise.all(jobs.map(stream));
    expect(Date.now() - started).toBeLessThan(120_000);
    // Solo runs, one at a time, of every job that finished.
    let checked = 0;
    for (let i = 0; i < jobs.length; i++) {
      if (results[i].cancelled) continue;
      const solo = await stream({ ...jobs[i], cancelAfter: undefined });
      expect(results[i].text, `job ${i} (${JSON.stringify(jobs[i].first ?? {})} on ${jobs[i].model})`).toBe(solo.text);
      expect(results[i].layers).toBe(solo.layers);
      checked++;
    }
    expect(checked).toBe(48);
    expect(results.filter((r) => r.cancelled)).toHaveLength(16);
    // Different layer choices really ran: the executed layer counts differ across kinds.
    expect(new Set(results.filter((r) => !r.cancelled).map((r) => r.layers)).size).toBeGreaterThan(2);
    let metrics = "";
    for (let i = 0; i < 50; i++) {
      metrics = await (await fetch(`${base}/metrics`)).text();
      if (!/first_requests_running\{model="[^"]+"\} [1-9]/.test(metrics)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(metrics).not.toMatch(/first_requests_running\{model="[^"]+"\} [1-9]/);
    expect(metrics).not.toMatch(/first_requests_waiting\{model="[^"]+"\} [1-9]/);
    // Every KV block is back in the pool, cancelled streams' too.
    // The adapters live in the base model's engine: one pool for all three model ids.
    expect(metrics).toMatch(/first_kv_blocks_used\{model="tiny"\} 0/);
    expect(metrics).not.toMatch(/first_kv_blocks_used\{model="[^"]+"\} [1-9]/);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 * 1024 * 1024);
  });
});
