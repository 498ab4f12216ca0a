// The main-thread face of a loaded model: tokenizer, chat template and
// streaming generation. The weights and the engine live in a worker thread.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Worker } from "node:worker_threads";
import { renderChat, type ChatMessage } from "./chat-template.js";
import { AbortedError, ContextLengthError, EngineError, FirstError, InvalidOptionError, KvCapacityError, ModelClosedError, ModelLoadError } from "./errors.js";
import {
  routersPlan,
  validateGenerateOptions,
  type FinishReason,
  type GenerateOptions,
  type GenerationChunk,
  type GenerationResult,
  type TokenLogprob,
} from "./generation.js";
import { findDataDir } from "./data-dir.js";
import { loraPayload } from "./lora/engine-lora.js";
import { readGguf, readModelConfig, type ModelConfig } from "./native.js";
import { tokenizerForModel } from "./tokenizer/for-model.js";
import { firstHome } from "./paths.js";
import { parsePolicy, policyMask } from "./policies/policy.js";
import { checkThreshold, loadRouters as loadRouterFolder } from "./routers/checkpoint.js";
import { fileSha256, type ModelIdentity } from "./routers/model-identity.js";
import type { RouterSetData } from "./routers/router-set.js";
import type { LayerPlanSpec } from "./runtime/layer-plan.js";
import { resolveModelPath, type PullProgressListener } from "./pull/index.js";
import type { EngineInfo, EngineLoadOptions, FromWorker, GenerateRequest, Resolved, WirePlan } from "./runtime/protocol.js";
import type { ScoreResult } from "./runtime/score.js";
import { validateSampling } from "./sampling/index.js";
import { TextStreamDecoder, Tokenizer } from "./tokenizer/index.js";

export interface LoadModelOptions extends Omit<EngineLoadOptions, "modelPath" | "lora" | "adapters"> {
  /** A PEFT LoRA adapter folder every request takes (unmerged). */
  lora?: string;
  /**
   * Named PEFT adapters held by the same engine beside the base model: a
   * request takes one with `generate({ adapter: name })`, and requests with
   * different adapters (or none) decode in the same batches.
   */
  adapters?: Record<string, string>;
  /** Download the model when an alias or hf: source is not cached yet (default true). */
  pull?: boolean;
  /** Download progress, when the model has to be pulled first. */
  onPullProgress?: PullProgressListener;
}

export type { EngineInfo } from "./runtime/protocol.js";

type Pending = {
  onMessage: (m: FromWorker) => void;
};

/** Loads a model: a GGUF path, a Hugging Face checkpoint folder, the default alias, hf:owner/repo/file or hf:owner/repo. */
export async function loadModel(pathOrAlias?: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const path = await resolveModelPath(pathOrAlias, { pull: options.pull ?? true, onProgress: options.onPullProgress });
  let info;
  try {
    info = readGguf(path);
  } catch (err) {
    throw new ModelLoadError(`cannot read model ${path}: ${(err as Error).message}`, { cause: err });
  }
  const tokenizer = tokenizerForModel(path, info.metadata);
  let lora: ReturnType<typeof loraPayload> | undefined;
  if (options.lora !== undefined) {
    let config;
    try {
      config = readModelConfig(path);
    } catch (err) {
      throw new ModelLoadError(`cannot load model ${path}: ${(err as Error).message}`, { cause: err });
    }
    lora = loraPayload(options.lora, config);
  }
  const adapterDirs = Object.entries(options.adapters ?? {});
  let adapters: { name: string; lora: ReturnType<typeof loraPayload> }[] | undefined;
  if (adapterDirs.length > 0) {
    const config = readModelConfig(path);
    adapters = adapterDirs.map(([name, dir]) => ({ name, lora: loraPayload(dir, config) }));
  }
  const worker = new Worker(new URL("./runtime/worker.js", import.meta.url));
  const model = new LoadedModel(path, info.metadata, tokenizer, worker);
  // Only plain engine settings cross to the worker (no callbacks).
  const { pull: _pull, onPullProgress: _progress, adapters: _adapters, ...engineOptions } = options;
  // Engine adapter ids: 1 for `lora`, then the named ones in order.
  adapterDirs.forEach(([name], i) => model.adapterIds.set(name, (lora ? 2 : 1) + i));
  model.hasDefaultAdapter = lora !== undefined;
  await model.start({ ...engineOptions, modelPath: path, lora, adapters });
  return model;
}

export class LoadedModel {
  config!: ModelConfig;
  engine!: EngineInfo;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private loaded: ((m: FromWorker) => void) | null = null;
  private closed = false;
  private identityPromise: Promise<ModelIdentity> | undefined;
  /** @internal Named adapters (LoadModelOptions.adapters) by their engine id. */
  readonly adapterIds = new Map<string, number>();
  /** @internal Whether requests that name no adapter run one (LoadModelOptions.lora). */
  hasDefaultAdapter = false;
  private readonly routerIds = new WeakMap<RouterSetData, number>();
  private nextRoutersId = 1;
  private readonly routersCollected = new FinalizationRegistry<number>((routersId) => {
    if (!this.closed) this.worker.postMessage({ type: "drop-routers", routersId });
  });

  constructor(
    readonly path: string,
    readonly metadata: Record<string, unknown>,
    readonly tokenizer: Tokenizer,
    private readonly worker: Worker,
  ) {
    worker.on("message", (m: FromWorker) => {
      if (m.type === "loaded" || m.type === "load-error") this.loaded?.(m);
      else this.pending.get(m.id)?.onMessage(m);
    });
    worker.on("error", (err) => {
      for (const [id, p] of this.pending) p.onMessage({ type: "error", id, message: `engine worker failed: ${err.message}` });
    });
    // The worker keeps the process alive only while it has work for us.
    worker.unref();
  }

  /** @internal */
  async start(options: EngineLoadOptions): Promise<void> {
    this.worker.ref();
    const reply = await new Promise<FromWorker>((resolve) => {
      this.loaded = resolve;
      try {
        this.worker.postMessage({ type: "load", options });
      } catch (err) {
        resolve({ type: "load-error", message: (err as Error).message });
      }
    });
    this.loaded = null;
    this.worker.unref();
    if (reply.type === "load-error") {
      await this.worker.terminate();
      throw new ModelLoadError(`cannot load model ${this.path}: ${reply.message}`);
    }
    if (reply.type !== "loaded") throw new ModelLoadError("unexpected reply from the engine worker");
    this.config = reply.config;
    this.engine = reply.engine;
  }

  get chatTemplate(): string | undefined {
    const t = this.metadata["tokenizer.chat_template"];
    return typeof t === "string" ? t : undefined;
  }

  tokenize(text: string, opts: { addSpecial?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { addSpecial: opts.addSpecial ?? true, parseSpecial: true });
  }

  detokenize(ids: number[]): string {
    return this.tokenizer.decode(ids);
  }

  /** Renders chat messages with the model's template (ChatML when it has none). */
  applyChatTemplate(messages: ChatMessage[], addGenerationPrompt = true): string {
    return renderChat(this.chatTemplate, messages, {
      addGenerationPrompt,
      bosToken: this.tokenizer.bosId !== undefined ? this.tokenizer.decode([this.tokenizer.bosId], { skipSpecial: false }) : "",
      eosToken: this.tokenizer.eosId !== undefined ? this.tokenizer.decode([this.tokenizer.eosId], { skipSpecial: false }) : "",
    });
  }

  /**
   * Streams generated tokens. `input` is raw text (completed as is), chat
   * messages (the chat template is applied), or token ids.
   * Await `.result` for the whole text, token ids and timings.
   */
  /** The named adapters this model's engine holds (LoadModelOptions.adapters). */
  get adapterNames(): string[] {
    return [...this.adapterIds.keys()];
  }

  generate(input: string | ChatMessage[] | { tokens: number[] }, options: GenerateOptions = {}): Generation {
    if (this.closed) throw new ModelClosedError();
    validateGenerateOptions(options);
    if (options.adapter !== undefined && !this.adapterIds.has(options.adapter))
      throw new InvalidOptionError("adapter", `no adapter "${options.adapter}" is loaded (adapters: ${this.adapterNames.join(", ") || "none"})`);
    validateSampling(options);
    checkThreshold(options.threshold);
    let prompt: number[];
    if (typeof input === "string") prompt = this.tokenize(input);
    else if (Array.isArray(input)) prompt = this.tokenize(this.applyChatTemplate(input), { addSpecial: false });
    else prompt = input.tokens.slice();
    if (prompt.length === 0) throw new FirstError("INVALID_OPTION", "the prompt is empty");
    const ctx = this.engine.contextLength;
    if (prompt.length >= ctx) throw new ContextLengthError(prompt.length + 1, ctx,
      `The prompt has ${prompt.length} tokens; the context holds ${ctx} (prompt plus at least one generated token).`);
    const maxTokens = Math.min(options.maxTokens ?? 256, ctx - prompt.length);
    return new Generation(this, prompt, maxTokens, options);
  }

  /**
   * `n` generations of the same prompt (OpenAI's `n`): the prompt is prefilled
   * once and the other choices fork its KV blocks (copy-on-write), each with its
   * own sampler; choice i draws with `seed + i` when a seed is given.
   */
  generateChoices(input: string | ChatMessage[] | { tokens: number[] }, n: number, options: GenerateOptions = {}): Generation[] {
    if (!Number.isInteger(n) || n < 1) throw new InvalidOptionError("n", `must be an integer >= 1, got ${n}`);
    const first = this.generate(input, options);
    const prompt = first.promptTokens;
    const gens = [first];
    for (let i = 1; i < n; i++) {
      const seed = options.seed === undefined ? undefined : options.seed + i;
      gens.push(new Generation(this, prompt, first.maxTokens, { ...options, seed }, first.requestId));
    }
    return gens;
  }

  /** @internal */
  submit(req: Omit<Resolved<GenerateRequest>, "type" | "id">, onMessage: (m: FromWorker) => void): number {
    const id = this.nextId++;
    this.pending.set(id, { onMessage });
    this.worker.ref();
    this.worker.postMessage({ type: "generate", id, ...req, plan: this.wirePlan(req.plan) } satisfies GenerateRequest);
    return id;
  }

  /**
   * The plan as the worker takes it: a router set (a few MB) is sent once, the
   * first time this model meets that object, and named by id after; the
   * worker forgets it when the object is garbage-collected.
   */
  private wirePlan(plan: LayerPlanSpec): WirePlan {
    if (plan.kind !== "routers") return plan;
    let routersId = this.routerIds.get(plan.routers);
    if (routersId === undefined) {
      routersId = this.nextRoutersId++;
      this.routerIds.set(plan.routers, routersId);
      this.worker.postMessage({ type: "register-routers", routersId, routers: plan.routers });
      this.routersCollected.register(plan.routers, routersId);
    }
    return { kind: "routers", routersId, threshold: plan.threshold, budget: plan.budget };
  }

  /**
   * @internal The layers a request runs: its routers (with the checkpoint's
   * budget for routers without an adapter, when the request sets neither a
   * threshold nor a budget), else its plan, else every layer.
   */
  layerPlan(options: Pick<GenerateOptions, "plan" | "routers" | "threshold" | "layerBudget" | "skipRatio" | "adapter">): LayerPlanSpec {
    const spec = routersPlan(options);
    if (spec?.kind === "routers" && spec.threshold === undefined && spec.budget === undefined) {
      const budget = spec.routers.config.layerBudgetWithoutAdapter;
      const adapter = options.adapter !== undefined || this.hasDefaultAdapter;
      if (budget !== undefined && !adapter) return { ...spec, budget: { layers: budget } };
    }
    return spec ?? options.plan ?? { kind: "full" };
  }

  /** @internal */
  release(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  /**
   * Log-probability of each continuation token after the prompt (token ids).
   * The layers are decided from the prompt alone (routers see the prompt),
   * then the continuation runs through the same layers.
   */
  async scoreTokens(
    prompt: number[],
    continuation: number[],
    options: Pick<GenerateOptions, "plan" | "routers" | "threshold" | "layerBudget" | "skipRatio"> = {},
  ): Promise<ScoreResult> {
    if (this.closed) throw new ModelClosedError();
    checkThreshold(options.threshold);
    validateGenerateOptions(options);
    if (prompt.length === 0) throw new FirstError("INVALID_OPTION", "the prompt is empty");
    const ctx = this.engine.contextLength;
    if (prompt.length + continuation.length > ctx)
      throw new ContextLengthError(prompt.length + continuation.length, ctx,
        `prompt (${prompt.length}) plus continuation (${continuation.length}) tokens exceed the context of ${ctx}`);
    const plan = this.layerPlan(options);
    const id = this.nextId++;
    return new Promise<ScoreResult>((resolve, reject) => {
      this.pending.set(id, {
        onMessage: (m) => {
          this.release(id);
          if (m.type === "scored") {
            const { type: _t, id: _i, ...result } = m;
            resolve(result);
          } else if (m.type === "error") {
            reject(m.code === "KV_CAPACITY"
              ? new KvCapacityError(prompt.length + continuation.length, this.engine.maxBlocks, m.message)
              : new EngineError(`scoring: ${m.message}`));
          }
        },
      });
      this.worker.ref();
      this.worker.postMessage({ type: "score", id, prompt: prompt.slice(), continuation: continuation.slice(), plan: this.wirePlan(plan) });
    });
  }

  /** The KV block pool: blocks in use and free (every sequence together), bytes and positions per block. */
  async kvStats(): Promise<{ usedBlocks: number; freeBlocks: number; blockBytes: number; blockTokens: number }> {
    if (this.closed) throw new ModelClosedError();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {
        onMessage: (m) => {
          this.release(id);
          if (m.type === "kv-stats") resolve({ usedBlocks: m.usedBlocks, freeBlocks: m.freeBlocks, blockBytes: m.blockBytes, blockTokens: m.blockTokens });
          else if (m.type === "error") reject(new EngineError(`kv stats: ${m.message}`));
        },
      });
      this.worker.ref();
      this.worker.postMessage({ type: "kv-stats", id });
    });
  }

  /** Architecture, size and sha256 of the weights file (hashed once, then cached). */
  async identity(): Promise<ModelIdentity> {
    this.identityPromise ??= fileSha256(this.path).then((sha256) => ({
      architecture: this.config.architecture,
      nLayers: this.config.nLayers,
      dModel: this.config.dModel,
      sha256,
    }));
    return this.identityPromise;
  }

  /** Loads a router checkpoint folder and checks that it was made for this model. */
  async loadRouters(dir: string): Promise<RouterSetData> {
    return loadRouterFolder(dir, await this.identity()).data;
  }

  /**
   * Block Influence of every layer (ShortGPT), measured on calibration texts
   * (default: the WikiText-2 validation split from the data folder) and cached
   * under FIRST_HOME/block-influence.
   */
  async blockInfluence(opts: { calibration?: string[]; dataDir?: string; maxTexts?: number; maxTokens?: number } = {}): Promise<number[]> {
    const texts = (opts.calibration ?? defaultCalibration(opts.dataDir)).slice(0, opts.maxTexts ?? 32);
    const maxTokens = opts.maxTokens ?? 256;
    const sequences = texts.map((t) => this.tokenize(t).slice(0, maxTokens)).filter((s) => s.length > 1);
    if (sequences.length === 0) throw new FirstError("INVALID_OPTION", "the calibration set has no usable text");
    const { sha256 } = await this.identity();
    const key = createHash("sha256").update(JSON.stringify(sequences)).digest("hex").slice(0, 16);
    const cacheFile = join(firstHome(), "block-influence", `${sha256.slice(0, 16)}-${key}.json`);
    if (existsSync(cacheFile)) {
      try {
        const cached = JSON.parse(readFileSync(cacheFile, "utf8")) as { scores: number[] };
        if (cached.scores.length === this.config.nLayers) return cached.scores;
      } catch {
        // recompute below
      }
    }
    const id = this.nextId++;
    const scores = await new Promise<number[]>((resolve, reject) => {
      this.pending.set(id, {
        onMessage: (m) => {
          this.release(id);
          if (m.type === "block-influence") resolve(m.scores);
          else if (m.type === "error") reject(new EngineError(`block influence: ${m.message}`));
        },
      });
      this.worker.ref();
      this.worker.postMessage({ type: "block-influence", id, sequences });
    });
    try {
      mkdirSync(dirname(cacheFile), { recursive: true });
      const tmp = `${cacheFile}.tmp-${process.pid}`;
      writeFileSync(tmp, JSON.stringify({ model: this.path, sha256, texts: sequences.length, scores }, null, 1));
      renameSync(tmp, cacheFile);
    } catch {
      // caching is best effort
    }
    return scores;
  }

  /** The layer plan for a policy string (full, skip:…, uls:k, bi:k, random:k[:seed], last:k, exit:L). */
  async planFor(policy: string, opts: { exempt?: number[]; dataDir?: string } = {}): Promise<LayerPlanSpec> {
    const p = parsePolicy(policy);
    if (p.kind === "full") return { kind: "full" };
    const blockInfluence = p.kind === "bi" ? await this.blockInfluence({ dataDir: opts.dataDir }) : undefined;
    return { kind: "mask", executed: policyMask(p, { nLayers: this.config.nLayers, exempt: opts.exempt, blockInfluence }) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
  }
}

/** One running generation: an async iterable of chunks plus the final result. */
export class Generation implements AsyncIterable<GenerationChunk> {
  readonly result: Promise<GenerationResult>;
  private readonly queue: GenerationChunk[] = [];
  private wake: (() => void) | null = null;
  private ended = false;
  private failure: unknown = null;

  /** @internal The worker's id for this request. */
  requestId = 0;
  /** @internal */
  readonly promptTokens: number[];
  /** @internal */
  readonly maxTokens: number;

  /** `forkOf`: the request id of an earlier choice on the same prompt, whose prompt blocks this one shares. */
  constructor(model: LoadedModel, prompt: number[], maxTokens: number, options: GenerateOptions, forkOf?: number) {
    this.promptTokens = prompt;
    this.maxTokens = maxTokens;
    const cancelBuf = new SharedArrayBuffer(4);
    const cancel = new Int32Array(cancelBuf);
    const stops = options.stop ?? [];
    const decoder = new TextStreamDecoder(model.tokenizer);
    const tokens: number[] = [];
    let text = ""; // all text so far (decoded)
    let emitted = 0; // chars of `text` handed out in chunks
    let stopped = false;
    let executed: boolean[] = [];
    let probabilities: (number | null)[] | null = null;
    let prefillMs = 0;
    let kvBytes = 0;
    const logprobs: TokenLogprob[] = [];
    const onAbort = () => Atomics.store(cancel, 0, 1);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();

    this.result = new Promise<GenerationResult>((resolve, reject) => {
      const finish = (reason: FinishReason, decodeMs: number, decodeSteps: number, batchPeak: number, preemptions: number) => {
        options.signal?.removeEventListener("abort", onAbort);
        model.release(id);
        if (!stopped) {
          text += decoder.flush();
          this.push({ token: -1, text: text.slice(emitted) });
        }
        if (reason === "aborted" && options.signal?.aborted) {
          this.end(new AbortedError());
          reject(new AbortedError());
          return;
        }
        this.end(null);
        const skipped = executed.flatMap((e, l) => (e ? [] : [l]));
        resolve({
          text,
          promptTokenIds: prompt,
          tokens,
          finishReason: stopped ? "stop" : reason,
          executed,
          executedLayers: executed.length - skipped.length,
          skippedLayers: skipped,
          routerProbabilities: probabilities,
          kvBytes,
          ...(options.logprobs !== undefined ? { logprobs } : {}),
          batchPeak,
          preemptions,
          timings: {
            prefillMs,
            decodeMs,
            prefillTokensPerSecond: prefillMs > 0 ? (prompt.length / prefillMs) * 1000 : 0,
            decodeTokensPerSecond: decodeMs > 0 ? (decodeSteps / decodeMs) * 1000 : 0,
          },
        });
      };
      const id = (this.requestId = model.submit(
        {
          prompt,
          maxTokens,
          stopTokens: options.ignoreEos ? [] : [...model.tokenizer.eotIds],
          sampling: {
            temperature: options.temperature,
            topK: options.topK,
            topP: options.topP,
            minP: options.minP,
            repeatPenalty: options.repeatPenalty,
            repeatLastN: options.repeatLastN,
            seed: options.seed,
          },
          plan: model.layerPlan(options),
          topLogprobs: options.logprobs,
          cancel: cancelBuf,
          forkOf,
          adapter: options.adapter === undefined ? undefined : model.adapterIds.get(options.adapter),
        },
        (m) => {
          if (m.type === "prefilled") {
            executed = m.executed;
            probabilities = m.probabilities;
            prefillMs = m.prefillMs;
            kvBytes = m.kvBytes;
          } else if (m.type === "token") {
            if (stopped) return;
            // End of generation: not part of the text (unless asked to go past it).
            if (!options.ignoreEos && model.tokenizer.eotIds.has(m.token)) return;
            tokens.push(m.token);
            const lp: TokenLogprob | undefined =
              m.logprob === undefined ? undefined : { token: m.token, logprob: m.logprob, top: (m.top ?? []).map(([token, logprob]) => ({ token, logprob })) };
            if (lp) logprobs.push(lp);
            text += decoder.push(m.token);
            // Hold back text that could still become a stop string.
            const hit = firstStop(text, stops, emitted);
            if (hit >= 0) {
              stopped = true;
              text = text.slice(0, hit);
              Atomics.store(cancel, 0, 1);
              this.push({ token: m.token, text: text.slice(emitted), logprob: lp });
              emitted = text.length;
              return;
            }
            const safe = text.length - pendingStopPrefix(text, stops);
            this.push({ token: m.token, text: text.slice(emitted, safe), logprob: lp });
            emitted = Math.max(emitted, safe);
          } else if (m.type === "done") {
            finish(m.reason, m.decodeMs, m.decodeSteps, m.batchPeak, m.preemptions ?? 0);
          } else if (m.type === "error") {
            options.signal?.removeEventListener("abort", onAbort);
            model.release(id);
            const err =
              m.code === "KV_CAPACITY"
                ? new KvCapacityError(prompt.length + tokens.length, model.engine.maxBlocks, m.message)
                : new EngineError(m.message);
            this.end(err);
            reject(err);
          }
        },
      ));
    });
    this.result.catch(() => undefined); // the iterator reports the error too
  }

  private push(c: GenerationChunk): void {
    this.queue.push(c);
    this.wake?.();
  }

  private end(err: unknown): void {
    this.ended = true;
    this.failure = err;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
    for (;;) {
      if (this.queue.length > 0) {
        const c = this.queue.shift()!;
        if (c.token >= 0 || c.text.length > 0) yield c;
        continue;
      }
      if (this.ended) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = null;
    }
  }
}

/** Index in text of the first stop string that starts at or after `from - longest stop`, or -1. */
function firstStop(text: string, stops: string[], from: number): number {
  let best = -1;
  for (const s of stops) {
    const i = text.indexOf(s, Math.max(0, from - s.length));
    if (i >= 0 && (best < 0 || i < best)) best = i;
  }
  return best;
}

/** Length of the longest suffix of text that is a proper prefix of a stop string. */
function pendingStopPrefix(text: string, stops: string[]): number {
  let keep = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > keep; n--) {
      if (text.endsWith(s.slice(0, n))) {
        keep = n;
        break;
      }
    }
  }
  return keep;
}

/** The first 64 paragraphs of WikiText-2's validation split (its train role). */
function defaultCalibration(dataDir?: string): string[] {
  const file = join(findDataDir(dataDir), "wikitext2", "valid.txt");
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 200 && !l.startsWith("="))
    .slice(0, 64);
}
