// The OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions
// (JSON or SSE), /v1/models, /health, /metrics, /tokenize, /detokenize, with
// the `first` extension choosing each request's layers. Each base model is one
// loaded engine holding its adapters too; the requests for it and for its
// adapters decode together in that engine's batches (at most --parallel at
// once, the rest wait in a bounded FIFO queue).
import { randomUUID } from "node:crypto";
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import {
  FirstError,
  loadModel,
  resolveModelPath,
  type GenerateOptions,
  type GenerationResult,
  type LayerPlanSpec,
  type LoadedModel,
  type RouterSetData,
  type TokenLogprob,
} from "@first/core";
import { Admission } from "./admission.js";
import { badRequest, HttpError, notFound, unauthorized, unavailable } from "./errors.js";
import { ServerMetrics } from "./metrics.js";
import {
  chatMessages,
  chatSchema,
  completionSchema,
  samplingOptions,
  type ChatBody,
  type CommonBody,
  type CompletionBody,
  type FirstExtension,
} from "./requests.js";

export interface ServerOptions {
  /** Base models: a path, alias or hf: source each; `id` defaults to the file's name. The first is the default. */
  models: { id?: string; source: string }[];
  /** Adapters, each served as its own model id with a base model as parent (default: the first). */
  adapters?: { name: string; dir: string; base?: string }[];
  /** Router sets by name; a request names one in first.routers ("default": the one named so, or the only one). */
  routers?: { name: string; dir: string }[];
  /** Layer choice for requests that send no `first` object. */
  defaults?: FirstExtension;
  threads?: number;
  /** Sequences decoding at once per engine (default 4). */
  parallel?: number;
  /** Requests waiting per engine beyond those (default 64). */
  queue?: number;
  /** Context length (default: the model's). */
  ctx?: number;
  /** Prompts longer than this prefill in slices of at most this many tokens, one per step beside running streams (full model and fixed policies; 0: whole). Default 64. */
  prefillChunk?: number;
  /** Required as "Authorization: Bearer KEY" on every route but /health. */
  apiKey?: string;
  /** Allowed CORS origins ("*" for any). */
  cors?: string[];
  /** A request running longer than this many seconds is ended (default: no limit). */
  timeoutS?: number;
  /** Most choices per request (n). */
  maxN?: number;
  /** SSE comment line interval while a stream is idle, ms (default 15000). */
  keepAliveMs?: number;
  logger?: boolean;
}

interface Engine {
  id: string;
  parent?: string;
  model: LoadedModel;
  /** The adapter this model id names inside its base model's engine. */
  adapter?: string;
  admission: Admission;
  routers: Map<string, Promise<RouterSetData>>;
  plans: Map<string, Promise<LayerPlanSpec>>;
}

export interface FirstServer {
  app: FastifyInstance;
  /** Settles when every model is loaded (rejects when one fails). */
  ready: Promise<void>;
  listen(port: number, host?: string): Promise<string>;
  /** Stops accepting, lets running requests finish for up to `deadlineMs`, then ends them, and unloads. */
  close(deadlineMs?: number): Promise<void>;
}

const created = () => Math.floor(Date.now() / 1000);

export function createServer(o: ServerOptions): FirstServer {
  if (o.models.length === 0) throw new Error("createServer: give at least one model");
  const parallel = o.parallel ?? 4, queue = o.queue ?? 64, maxN = o.maxN ?? 8;
  const keepAliveMs = o.keepAliveMs ?? 15_000;
  const metrics = new ServerMetrics();
  const engines = new Map<string, Engine>();
  const running = new Set<AbortController>();
  let loading = true, loadError: string | null = null, closing = false;

  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: 32 * 1024 * 1024,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  // --- loading -------------------------------------------------------------
  const ready = (async () => {
    const engineOptions = { threads: o.threads, contextLength: o.ctx, maxSequences: parallel, prefillChunk: o.prefillChunk };
    const bases: { id: string; path: string; adapters: Record<string, string> }[] = [];
    for (const m of o.models) {
      const path = await resolveModelPath(m.source, { pull: true });
      const id = m.id ?? path.split("/").pop()!.replace(/\.gguf$/i, "");
      if (bases.some((b) => b.id === id)) throw new Error(`two models have the id "${id}"`);
      bases.push({ id, path, adapters: {} });
    }
    for (const a of o.adapters ?? []) {
      const base = a.base === undefined ? bases[0] : bases.find((b) => b.id === a.base);
      if (!base) throw new Error(`adapter ${a.name}: no base model "${a.base}"`);
      if (bases.some((b) => b.id === a.name) || bases.some((b) => a.name in b.adapters)) throw new Error(`adapter name "${a.name}" is taken`);
      base.adapters[a.name] = a.dir;
    }
    // One engine per base model holds its adapters too: requests for the base and for
    // each adapter decode in the same batches and share its KV pool and admission.
    for (const b of bases) {
      const model = await loadModel(b.path, { ...engineOptions, pull: false, adapters: b.adapters });
      const base = newEngine(b.id, model);
      engines.set(b.id, base);
      for (const name of Object.keys(b.adapters)) engines.set(name, { ...base, id: name, parent: b.id, adapter: name });
    }
  })().then(
    () => {
      loading = false;
    },
    (err: Error) => {
      loadError = err.message;
      throw err;
    },
  );
  ready.catch(() => undefined);

  function newEngine(id: string, model: LoadedModel, parent?: string): Engine {
    return { id, parent, model, admission: new Admission(parallel, queue), routers: new Map(), plans: new Map() };
  }

  // --- hooks -----------------------------------------------------------------
  app.addHook("onRequest", async (req, reply) => {
    const origin = req.headers.origin;
    if (o.cors && origin && (o.cors.includes("*") || o.cors.includes(origin))) {
      reply.header("access-control-allow-origin", o.cors.includes("*") ? "*" : origin);
      reply.header("access-control-allow-headers", "authorization, content-type");
      reply.header("access-control-allow-methods", "GET, POST, OPTIONS");
      if (req.method === "OPTIONS") return reply.code(204).send();
    }
    if (req.url === "/health") return;
    if (o.apiKey !== undefined && req.headers.authorization !== `Bearer ${o.apiKey}`) throw unauthorized();
  });

  app.setErrorHandler((err: Error & { validation?: unknown; statusCode?: number; validationContext?: string }, _req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).headers(err.headers).send(err.body());
    if (err.validation) {
      const param = /^body\/?(.*?)(?: |$)/.exec(err.message)?.[1]?.replace(/\//g, ".") || null;
      return reply.code(400).send(badRequest(err.message.replace(/^body\/?/, ""), param).body());
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
      return reply.code(err.statusCode).send(new HttpError(err.statusCode, err.message, "invalid_request_error").body());
    if (err instanceof FirstError && (err.code === "INVALID_OPTION" || err.code === "CONTEXT_LENGTH"))
      return reply.code(400).send(badRequest(err.message).body());
    return reply.code(500).send(new HttpError(500, err.message, "server_error").body());
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(new HttpError(404, `no route ${req.method} ${req.url}`, "invalid_request_error").body());
  });

  // --- plain routes --------------------------------------------------------------
  app.get("/health", async (_req, reply) => {
    if (loadError) return reply.code(503).send({ error: `loading failed: ${loadError}` });
    if (loading) return reply.code(503).send({ error: "loading the model" });
    if (closing) return reply.code(503).send({ error: "shutting down" });
    return { status: "ok" };
  });

  app.get("/metrics", async (_req, reply) => {
    // Per engine (a base model with its adapters): they share its batches, queue and KV pool.
    for (const e of engines.values()) {
      if (e.adapter !== undefined) continue;
      metrics.running.set({ model: e.id }, e.admission.runningCount);
      metrics.waiting.set({ model: e.id }, e.admission.waitingCount);
      if (!loading && !loadError) {
        const kv = await e.model.kvStats();
        metrics.kvBlocksUsed.set({ model: e.id }, kv.usedBlocks);
        metrics.kvBlocksTotal.set({ model: e.id }, kv.usedBlocks + kv.freeBlocks);
      }
    }
    reply.header("content-type", metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.get("/v1/models", async () => {
    requireLoaded();
    return {
      object: "list",
      data: [...engines.values()].map((e) => ({
        id: e.id,
        object: "model",
        created: created(),
        owned_by: "first",
        ...(e.parent ? { parent: e.parent, root: e.parent } : { root: e.id }),
        max_model_len: e.model.engine.contextLength,
      })),
    };
  });

  app.post("/tokenize", async (req) => {
    const b = (req.body ?? {}) as { model?: string; prompt?: unknown; messages?: ChatBody["messages"]; add_special_tokens?: boolean };
    const e = engineFor(b.model);
    let tokens: number[];
    if (Array.isArray(b.messages)) tokens = e.model.tokenize(e.model.applyChatTemplate(chatMessages(b as ChatBody)), { addSpecial: false });
    else if (typeof b.prompt === "string") tokens = e.model.tokenize(b.prompt, { addSpecial: b.add_special_tokens ?? true });
    else throw badRequest("give prompt (a string) or messages", "prompt");
    return { tokens, count: tokens.length, max_model_len: e.model.engine.contextLength };
  });

  app.post("/detokenize", async (req) => {
    const b = (req.body ?? {}) as { model?: string; tokens?: unknown };
    const e = engineFor(b.model);
    const vocab = e.model.config.vocabSize;
    if (!Array.isArray(b.tokens) || b.tokens.some((t) => !Number.isInteger(t) || t < 0 || t >= vocab))
      throw badRequest(`tokens must be a list of token ids in 0..${vocab - 1}`, "tokens");
    return { prompt: e.model.detokenize(b.tokens as number[]) };
  });

  // --- generation ------------------------------------------------------------------
  app.post("/v1/chat/completions", { schema: { body: chatSchema } }, async (req, reply) => {
    const b = req.body as ChatBody;
    if (b.top_logprobs != null && !b.logprobs) throw badRequest("top_logprobs needs logprobs: true", "top_logprobs");
    if (b.top_logprobs != null && (b.top_logprobs < 0 || b.top_logprobs > 20)) throw badRequest("top_logprobs must be between 0 and 20", "top_logprobs");
    const e = engineFor(b.model);
    const prompt = e.model.tokenize(e.model.applyChatTemplate(chatMessages(b)), { addSpecial: false });
    const logprobs = b.logprobs ? (b.top_logprobs ?? 0) : undefined;
    return serve(req, reply, e, b, prompt, "chat", logprobs);
  });

  app.post("/v1/completions", { schema: { body: completionSchema } }, async (req, reply) => {
    const b = req.body as CompletionBody;
    if (b.logprobs != null && (b.logprobs < 0 || b.logprobs > 5)) throw badRequest("logprobs must be between 0 and 5", "logprobs");
    const e = engineFor(b.model);
    const p = b.prompt;
    const prompt = typeof p === "string" ? e.model.tokenize(p) : typeof p[0] === "string" ? e.model.tokenize(p[0] as string) : (p as number[]);
    const vocab = e.model.config.vocabSize;
    if (prompt.some((t) => !Number.isInteger(t) || t < 0 || t >= vocab)) throw badRequest(`prompt token ids must lie in 0..${vocab - 1}`, "prompt");
    return serve(req, reply, e, b, prompt, "text", b.logprobs ?? undefined);
  });

  function requireLoaded(): void {
    if (loadError) throw new HttpError(503, `loading failed: ${loadError}`, "server_error", null, "model_load_failed");
    if (loading) throw unavailable("the model is still loading", 5);
    if (closing) throw unavailable("the server is shutting down", 5);
  }

  function engineFor(model: string | undefined): Engine {
    requireLoaded();
    if (model === undefined || model === "") return engines.values().next().value!;
    const e = engines.get(model);
    if (!e) throw notFound(`The model "${model}" does not exist; GET /v1/models lists the models served`, "model");
    return e;
  }

  /** The layer options of a request: its `first` object over the server's defaults. */
  async function layerOptions(e: Engine, ext: FirstExtension | undefined): Promise<Partial<GenerateOptions>> {
    const f = { ...o.defaults, ...ext };
    if (f.policy !== undefined && f.routers) throw badRequest("first.policy and first.routers exclude each other", "first.policy");
    if (f.policy !== undefined) {
      if (f.layer_budget !== undefined || f.threshold !== undefined) throw badRequest("first.policy takes no threshold or layer_budget", "first.policy");
      let plan = e.plans.get(f.policy);
      if (!plan) {
        plan = e.model.planFor(f.policy);
        e.plans.set(f.policy, plan);
        plan.catch(() => e.plans.delete(f.policy!));
      }
      try {
        return { plan: await plan };
      } catch (err) {
        throw badRequest(`first.policy: ${(err as Error).message}`, "first.policy");
      }
    }
    const wantsRouters = f.routers !== undefined && f.routers !== null && f.routers !== "none";
    if (!wantsRouters) {
      if (ext?.layer_budget !== undefined || ext?.threshold !== undefined || ext?.skip_ratio !== undefined)
        throw badRequest("first.threshold, layer_budget and skip_ratio need routers (first.routers)", "first.routers");
      return {};
    }
    const sets = o.routers ?? [];
    const entry = f.routers === "default" ? (sets.find((r) => r.name === "default") ?? (sets.length === 1 ? sets[0] : undefined)) : sets.find((r) => r.name === f.routers);
    if (!entry) throw notFound(`no router set "${f.routers}" is served (sets: ${sets.map((r) => r.name).join(", ") || "none"})`, "first.routers");
    let routers = e.routers.get(entry.name);
    if (!routers) {
      routers = e.model.loadRouters(entry.dir);
      e.routers.set(entry.name, routers);
    }
    let data: RouterSetData;
    try {
      data = await routers;
    } catch (err) {
      throw badRequest(`first.routers: ${(err as Error).message}`, "first.routers");
    }
    const budgeted = f.layer_budget !== undefined || f.skip_ratio !== undefined;
    return { routers: data, threshold: budgeted ? undefined : f.threshold, layerBudget: f.layer_budget, skipRatio: f.layer_budget === undefined ? f.skip_ratio : undefined };
  }

  async function serve(
    req: FastifyRequest,
    reply: FastifyReply,
    e: Engine,
    b: CommonBody,
    prompt: number[],
    kind: "chat" | "text",
    logprobs: number | undefined,
  ) {
    const arrived = performance.now();
    const { options, n, maxTokens } = samplingOptions(b, maxN);
    const layers = await layerOptions(e, b.first);
    const ctx = e.model.engine.contextLength;
    if (prompt.length === 0) throw badRequest("the prompt is empty", kind === "chat" ? "messages" : "prompt");
    if (prompt.length + (maxTokens ?? 1) > ctx)
      throw new HttpError(400, `This model's maximum context length is ${ctx} tokens. However, you requested ${prompt.length + (maxTokens ?? 1)} tokens (${prompt.length} in the messages, ${maxTokens ?? 1} in the completion). Please reduce the length of the messages or completion.`, "invalid_request_error", kind === "chat" ? "messages" : "prompt", "context_length_exceeded");
    const abort = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableEnded) abort.abort(new Error("client disconnected"));
    };
    reply.raw.on("close", onClose);
    const timer = o.timeoutS !== undefined ? setTimeout(() => abort.abort(new Error(`request timed out after ${o.timeoutS} s`)), o.timeoutS * 1000) : undefined;
    let release: (() => void) | undefined;
    try {
      release = await e.admission.acquire(abort.signal);
    } catch (err) {
      clearTimeout(timer);
      reply.raw.off("close", onClose);
      throw err;
    }
    running.add(abort);
    const admitted = performance.now();
    metrics.queueTime.observe({ model: e.id }, (admitted - arrived) / 1000);
    const id = `${kind === "chat" ? "chatcmpl" : "cmpl"}-${randomUUID()}`;
    const base: GenerateOptions = { ...options, ...layers, maxTokens, logprobs, signal: abort.signal, adapter: e.adapter };
    // One prefill; the other choices fork its KV blocks (choice i draws with seed + i).
    const gens = e.model.generateChoices({ tokens: prompt }, n, base);
    const stream = b.stream === true;
    const finish = (results: (GenerationResult | null)[]) => {
      const done = results.filter((r): r is GenerationResult => r !== null);
      for (const r of done) {
        metrics.generationTokens.inc({ model: e.id }, r.tokens.length);
        metrics.finished.inc({ model: e.id, finish_reason: r.finishReason });
        metrics.executedLayers.observe({ model: e.id }, r.executedLayers);
        metrics.preemptions.inc({ model: e.id }, r.preemptions);
        for (const l of r.skippedLayers) metrics.layerSkips.inc({ model: e.id, layer: String(l) });
        const full = r.executedLayers > 0 ? (r.kvBytes * r.executed.length) / r.executedLayers : 0;
        metrics.kvBytesSaved.inc({ model: e.id }, Math.max(0, full - r.kvBytes));
      }
      metrics.promptTokens.inc({ model: e.id }, prompt.length);
      metrics.e2e.observe({ model: e.id }, (performance.now() - arrived) / 1000);
    };
    const cleanup = () => {
      clearTimeout(timer);
      reply.raw.off("close", onClose);
      running.delete(abort);
      release?.();
    };

    if (!stream) {
      try {
        const results = await Promise.all(gens.map((g) => g.result));
        finish(results);
        metrics.ttft.observe({ model: e.id }, results[0].timings.prefillMs / 1000);
        return {
          id,
          object: kind === "chat" ? "chat.completion" : "text_completion",
          created: created(),
          model: e.id,
          choices: results.map((r, index) =>
            kind === "chat"
              ? { index, message: { role: "assistant", content: r.text }, logprobs: logprobs === undefined ? null : chatLogprobs(e.model, r.logprobs ?? []), finish_reason: finishReason(r) }
              : { index, text: r.text, logprobs: logprobs === undefined ? null : textLogprobs(e.model, r.logprobs ?? []), finish_reason: finishReason(r) },
          ),
          usage: usage(prompt.length, results),
        };
      } catch (err) {
        if (abort.signal.aborted && abort.signal.reason instanceof Error && /timed out/.test(abort.signal.reason.message))
          throw new HttpError(408, abort.signal.reason.message, "invalid_request_error", null, "timeout");
        throw err;
      } finally {
        cleanup();
      }
    }

    // SSE: one chunk per piece of text, per choice; a final chunk with the finish reason.
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      ...(reply.getHeader("access-control-allow-origin") ? { "access-control-allow-origin": String(reply.getHeader("access-control-allow-origin")) } : {}),
    });
    let lastWrite = Date.now();
    const send = (data: unknown) => {
      if (raw.writableEnded || raw.destroyed) return;
      raw.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
      lastWrite = Date.now();
    };
    const keepAlive = setInterval(() => {
      if (Date.now() - lastWrite >= keepAliveMs && !raw.writableEnded) raw.write(": keep-alive\n\n");
    }, Math.max(10, Math.min(keepAliveMs, 1000)));
    const chunk = (index: number, piece: Record<string, unknown>) => ({
      id,
      object: kind === "chat" ? "chat.completion.chunk" : "text_completion",
      created: created(),
      model: e.id,
      choices: [{ index, ...piece }],
    });
    let firstToken = true, lastToken = 0;
    const results: (GenerationResult | null)[] = new Array(n).fill(null);
    try {
      await Promise.all(
        gens.map(async (g, index) => {
          if (kind === "chat") send(chunk(index, { delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }));
          for await (const c of g) {
            const now = performance.now();
            if (firstToken) metrics.ttft.observe({ model: e.id }, (now - admitted) / 1000);
            else metrics.itl.observe({ model: e.id }, (now - lastToken) / 1000);
            firstToken = false;
            lastToken = now;
            if (c.text.length === 0 && !c.logprob) continue;
            const lp = c.logprob ? [c.logprob] : [];
            send(chunk(index, kind === "chat"
              ? { delta: { content: c.text }, logprobs: logprobs === undefined ? null : chatLogprobs(e.model, lp), finish_reason: null }
              : { text: c.text, logprobs: logprobs === undefined ? null : textLogprobs(e.model, lp), finish_reason: null }));
          }
          const r = await g.result;
          results[index] = r;
          send(chunk(index, kind === "chat" ? { delta: {}, logprobs: null, finish_reason: finishReason(r) } : { text: "", logprobs: null, finish_reason: finishReason(r) }));
        }),
      );
      finish(results);
      if (b.stream_options?.include_usage)
        send({ id, object: kind === "chat" ? "chat.completion.chunk" : "text_completion", created: created(), model: e.id, choices: [], usage: usage(prompt.length, results as GenerationResult[]) });
      send("[DONE]");
    } catch (err) {
      finish(results);
      // The client is gone: nothing to tell. Otherwise an error event, then the end.
      if (!abort.signal.aborted || !/client disconnected/.test(String((abort.signal.reason as Error)?.message))) {
        const msg = abort.signal.aborted ? String((abort.signal.reason as Error)?.message ?? err) : (err as Error).message;
        send({ error: { message: msg, type: "server_error", param: null, code: null } });
        send("[DONE]");
      }
    } finally {
      clearInterval(keepAlive);
      cleanup();
      if (!raw.writableEnded) raw.end();
    }
  }

  return {
    app,
    ready,
    async listen(port, host = "127.0.0.1") {
      return app.listen({ port, host });
    },
    async close(deadlineMs = 30_000) {
      closing = true;
      for (const e of engines.values()) if (e.adapter === undefined) e.admission.drain(unavailable("the server is shutting down", 5));
      const until = Date.now() + deadlineMs;
      while (running.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      for (const a of running) a.abort(new Error("the server is shutting down"));
      while (running.size > 0) await new Promise((r) => setTimeout(r, 10));
      await app.close();
      await ready.catch(() => undefined);
      for (const m of new Set([...engines.values()].map((e) => e.model))) await m.close();
    },
  };
}

function finishReason(r: GenerationResult): "stop" | "length" {
  return r.finishReason === "length" ? "length" : "stop";
}

function usage(promptTokens: number, results: GenerationResult[]) {
  const completion = results.reduce((a, r) => a + r.tokens.length, 0);
  const r = results[0];
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completion,
    total_tokens: promptTokens + completion,
    first: { executed_layers: r.executedLayers, skipped_layers: r.skippedLayers, kv_bytes: r.kvBytes },
  };
}

const tokenText = (m: LoadedModel, t: number) => m.tokenizer.decode([t], { skipSpecial: false });

function chatLogprobs(m: LoadedModel, lps: TokenLogprob[]) {
  return {
    content: lps.map((lp) => {
      const token = tokenText(m, lp.token);
      return {
        token,
        logprob: lp.logprob,
        bytes: [...Buffer.from(token, "utf8")],
        top_logprobs: lp.top.map((t) => {
          const s = tokenText(m, t.token);
          return { token: s, logprob: t.logprob, bytes: [...Buffer.from(s, "utf8")] };
        }),
      };
    }),
    refusal: null,
  };
}

function textLogprobs(m: LoadedModel, lps: TokenLogprob[]) {
  let offset = 0;
  const tokens = lps.map((lp) => tokenText(m, lp.token));
  return {
    tokens,
    token_logprobs: lps.map((lp) => lp.logprob),
    top_logprobs: lps.map((lp) => Object.fromEntries(lp.top.map((t) => [tokenText(m, t.token), t.logprob]))),
    text_offset: tokens.map((t) => {
      const at = offset;
      offset += t.length;
      return at;
    }),
  };
}


