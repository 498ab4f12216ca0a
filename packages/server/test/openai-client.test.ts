// The server against the official openai client, on a tiny model the test
// writes, on 127.0.0.1: chat and completions, streaming and not, stop
// strings, seeds, n, logprobs, usage with the `first` extension, every error
// shape, an adapter as its own model, and a client that goes away mid-stream.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadModel, type LoadedModel } from "@first/core";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";
import { moduleDims, writePeftAdapter, type LoraModelShape, type LoraPair } from "../../core/src/lora/peft.js";
import { saveRouters } from "../../core/src/routers/checkpoint.js";
import { fileSha256 } from "../../core/src/routers/model-identity.js";
import { TrainRandom } from "../../train/src/random.js";
import { createServer, type FirstServer } from "../src/index.js";

const KEY = "test-key";
let dir = "";
let modelPath = "";
let server: FirstServer;
let base = "";
let client: OpenAI;
let solo: LoadedModel;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "first-server-"));
  modelPath = makeTinyLlama(path.join(dir, "tiny.gguf"), { layers: 6, seed: 9 }).path;
  const d = 64;
  const bias = [0, 3, -1, 2, 0.5, 0];
  saveRouters(path.join(dir, "routers"), {
    config: { kind: "linear", dModel: d, hidden: 0, nLayers: 6, exempt: [0, 5], threshold: 0.5, normEps: 1e-5 },
    layers: bias.map((b, l) => (l === 0 || l === 5 ? null : { fcWeight: new Float32Array(d), fcBias: b })),
  }, { architecture: "llama", nLayers: 6, dModel: d, sha256: await fileSha256(modelPath) });
  const shape: LoraModelShape = { nLayers: 6, dModel: 64, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 128 };
  const rng = new TrainRandom(3);
  const pairs: LoraPair[] = [];
  for (let layer = 0; layer < 6; layer++) {
    const [i, o] = moduleDims("q", shape);
    pairs.push({ layer, module: "q", a: Float32Array.from({ length: 4 * i }, () => rng.uniform(0.2)), b: Float32Array.from({ length: o * 4 }, () => rng.uniform(0.5)) });
  }
  writePeftAdapter(path.join(dir, "lora"), { rank: 4, alpha: 8, targets: ["q"], pairs }, shape);
  server = createServer({
    models: [{ id: "tiny", source: modelPath }],
    adapters: [{ name: "tiny-lora", dir: path.join(dir, "lora") }],
    routers: [{ name: "default", dir: path.join(dir, "routers") }],
    threads: 1,
    parallel: 2,
    queue: 2,
    ctx: 128,
    apiKey: KEY,
    keepAliveMs: 50,
  });
  base = await server.listen(0, "127.0.0.1");
  await server.ready;
  client = new OpenAI({ baseURL: `${base}/v1`, apiKey: KEY, maxRetries: 0 });
  solo = await loadModel(modelPath, { threads: 1, contextLength: 128, maxSequences: 1 });
});

afterAll(async () => {
  await server?.close(1000);
  await solo?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const messages = [{ role: "user" as const, content: "hello there" }];

describe("the server with the openai client", () => {
  it("health, models (the adapter with its parent) and metrics", async () => {
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: "ok" });
    const models = await client.models.list();
    const ids = models.data.map((m) => m.id);
    expect(ids).toEqual(["tiny", "tiny-lora"]);
    expect((models.data[1] as unknown as { parent: string }).parent).toBe("tiny");
    const metrics = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
    expect(metrics).toMatch(/first_requests_running/);
  });

  it("chat without streaming: the solo greedy text, usage with executed layers", async () => {
    const r = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 8, temperature: 0 });
    const want = await solo.generate(messages, { temperature: 0, maxTokens: 8 }).result;
    expect(r.object).toBe("chat.completion");
    expect(r.choices[0].message).toMatchObject({ role: "assistant", content: want.text });
    expect(["stop", "length"]).toContain(r.choices[0].finish_reason);
    expect(r.usage).toMatchObject({ prompt_tokens: want.promptTokenIds.length, completion_tokens: want.tokens.length, total_tokens: want.promptTokenIds.length + want.tokens.length });
    expect((r.usage as unknown as { first: unknown }).first).toEqual({ executed_layers: 6, skipped_layers: [], kv_bytes: want.kvBytes });
  });

  it("chat streaming: role first, the same text, a finish reason, usage, [DONE]", async () => {
    const stream = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0].choices[0].delta.role).toBe("assistant");
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
    const plain = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 8, temperature: 0 });
    expect(text).toBe(plain.choices[0].message.content);
    const withReason = chunks.filter((c) => c.choices[0]?.finish_reason);
    expect(withReason).toHaveLength(1);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage?.completion_tokens).toBe(plain.usage?.completion_tokens);
  });

  it("completions, streaming and not, and stop strings", async () => {
    const r = await client.completions.create({ model: "tiny", prompt: "the cat", max_tokens: 10, temperature: 0 });
    const want = await solo.generate("the cat", { temperature: 0, maxTokens: 10 }).result;
    expect(r.choices[0].text).toBe(want.text);
    const s = await client.completions.create({ model: "tiny", prompt: "the cat", max_tokens: 10, temperature: 0, stream: true });
    let text = "";
    for await (const c of s) text += c.choices[0]?.text ?? "";
    expect(text).toBe(want.text);
    if (want.text.length > 3) {
      const cut = want.text.slice(2, 4);
      const stopped = await client.completions.create({ model: "tiny", prompt: "the cat", max_tokens: 10, temperature: 0, stop: [cut] });
      expect(stopped.choices[0].text).toBe(want.text.slice(0, want.text.indexOf(cut)));
      expect(stopped.choices[0].finish_reason).toBe("stop");
    }
  });

  it("ignore_eos generates to max_tokens past an end of text, like generate's ignoreEos", async () => {
    // A prompt whose greedy continuation this tiny model ends early.
    let prompt = "";
    for (const p of ["the cat", "hello", "a b c", "one two", "the dog sat", "x y", "on the", "it was", "and then", "to be"]) {
      const r = await solo.generate(p, { temperature: 0, maxTokens: 12 }).result;
      if (r.finishReason === "stop") { prompt = p; break; }
    }
    if (prompt === "") return expect.fail("no prompt among ten ended early");
    const plain = await client.completions.create({ model: "tiny", prompt, max_tokens: 12, temperature: 0 });
    expect(plain.choices[0].finish_reason).toBe("stop");
    const r = await client.completions.create({ model: "tiny", prompt, max_tokens: 12, temperature: 0, ignore_eos: true } as never);
    const want = await solo.generate(prompt, { temperature: 0, maxTokens: 12, ignoreEos: true }).result;
    expect(r.choices[0].finish_reason).toBe("length");
    expect(r.usage?.completion_tokens).toBe(12);
    expect(r.choices[0].text).toBe(want.text);
    const bad = await fetch(`${base}/v1/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", prompt, ignore_eos: "yes" }),
    });
    expect(bad.status).toBe(400);
  });

  it("seeds reproduce sampled text; n gives that many choices", async () => {
    const ask = (seed: number) => client.chat.completions.create({ model: "tiny", messages, max_tokens: 12, temperature: 1, seed });
    expect((await ask(7)).choices[0].message.content).toBe((await ask(7)).choices[0].message.content);
    const many = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 6, temperature: 1, seed: 1, n: 3 });
    expect(many.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(many.usage!.completion_tokens).toBeGreaterThanOrEqual(3);
  });

  it("logprobs: the token's and the top alternatives'", async () => {
    const r = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 2 });
    const content = r.choices[0].logprobs!.content!;
    expect(content.length).toBe(r.usage!.completion_tokens);
    for (const t of content) {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs).toHaveLength(2);
      expect(t.top_logprobs[0].logprob).toBeCloseTo(t.logprob, 6); // greedy: the token is the most likely
    }
  });

  it("the first extension chooses the layers: a policy, routers with a budget", async () => {
    const policy = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 4, temperature: 0, first: { policy: "uls:1" } } as never) as OpenAI.ChatCompletion;
    expect((policy.usage as unknown as { first: { executed_layers: number } }).first.executed_layers).toBe(5);
    const budget = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 4, temperature: 0, first: { routers: "default", layer_budget: 3 } } as never) as OpenAI.ChatCompletion;
    expect((budget.usage as unknown as { first: { skipped_layers: number[] } }).first.skipped_layers).toEqual([2, 3, 4]);
    const adapted = await client.chat.completions.create({ model: "tiny-lora", messages, max_tokens: 8, temperature: 0 });
    const plain = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 8, temperature: 0 });
    expect(adapted.model).toBe("tiny-lora");
    expect(adapted.choices[0].message.content).not.toBe(plain.choices[0].message.content);
  });

  it("errors in OpenAI's shape: 400, context length, 401, 404", async () => {
    const expectError = async (p: Promise<unknown>, status: number, match: Partial<{ code: string | null; param: string | null; type: string }>) => {
      try {
        await p;
        throw new Error("no error");
      } catch (err) {
        expect(err).toBeInstanceOf(OpenAI.APIError);
        const e = err as InstanceType<typeof OpenAI.APIError>;
        expect(e.status).toBe(status);
        expect(e.error).toMatchObject(match);
      }
    };
    await expectError(client.chat.completions.create({ model: "tiny", messages, temperature: 5 }), 400, { type: "invalid_request_error", param: "temperature" });
    await expectError(client.chat.completions.create({ model: "tiny", messages, max_tokens: "x" as unknown as number }), 400, { type: "invalid_request_error" });
    await expectError(client.chat.completions.create({ model: "tiny", messages: [{ role: "user", content: "word ".repeat(300) }] }), 400, { code: "context_length_exceeded" });
    await expectError(client.chat.completions.create({ model: "nope", messages }), 404, { code: "model_not_found" });
    await expectError(new OpenAI({ baseURL: `${base}/v1`, apiKey: "wrong", maxRetries: 0 }).models.list(), 401, { code: "invalid_api_key" });
    await expectError(client.chat.completions.create({ model: "tiny", messages, first: { routers: "missing" } } as never), 404, { param: "first.routers" });
    // Unknown fields are ignored.
    const ok = await client.chat.completions.create({ model: "tiny", messages, max_tokens: 2, temperature: 0, frobnicate: 3 } as never) as OpenAI.ChatCompletion;
    expect(ok.choices).toHaveLength(1);
  });

  it("a full queue answers 503 with Retry-After; a client gone mid-stream frees its slot", async () => {
    // One slot, no queue, on a model slow enough that a long stream is still running.
    const slowPath = makeTinyLlama(path.join(dir, "slow.gguf"), { seed: 6, weightType: "F32", dim: 256, heads: 8, kvHeads: 4, ffn: 768, layers: 8 }).path;
    const busy = createServer({ models: [{ id: "slow", source: slowPath }], threads: 1, parallel: 1, queue: 0, ctx: 512 });
    const at = await busy.listen(0, "127.0.0.1");
    await busy.ready;
    try {
      const c = new OpenAI({ baseURL: `${at}/v1`, apiKey: "none", maxRetries: 0 });
      const controller = new AbortController();
      const stream = await c.completions.create({ model: "slow", prompt: "one two three", max_tokens: 240, temperature: 0, stream: true }, { signal: controller.signal });
      const it = stream[Symbol.asyncIterator]();
      await it.next(); // the stream has started: the one slot is taken
      const refused = await fetch(`${at}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "slow", prompt: "x", max_tokens: 2 }) });
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("1");
      expect((await refused.json()).error).toMatchObject({ type: "server_error", code: "server_busy" });
      controller.abort();
      await it.next().catch(() => undefined);
      // The slot comes back: the gauge reads 0 and a new request runs.
      let metrics = "";
      for (let i = 0; i < 50 && !/first_requests_running\{model="slow"\} 0/.test(metrics); i++) {
        await new Promise((r) => setTimeout(r, 50));
        metrics = await (await fetch(`${at}/metrics`)).text();
      }
      expect(metrics).toMatch(/first_requests_running\{model="slow"\} 0/);
      expect(metrics).toMatch(/first_kv_blocks_used\{model="slow"\} 0/);
      const after = await c.completions.create({ model: "slow", prompt: "x", max_tokens: 2, temperature: 0 });
      expect(after.choices).toHaveLength(1);
    } finally {
      await busy.close(1000);
    }
  });
});
