// llama.cpp side by side, through node-llama-cpp (CPU only, prebuilt binaries,
// never a local build). node-llama-cpp is optional: it is imported only when
// asked for, and loadLlamaCppPeer says why when it cannot be.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import type { RepTiming } from "./measure.js";

export interface LlamaCppInfo {
  nodeLlamaCppVersion: string;
  llamaCppRelease: string;
  systemInfo: string;
}

/** The installed node-llama-cpp version, from the package.json above its entry point (it exports no ./package.json). */
function nodeLlamaCppVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.resolve("node-llama-cpp")));
  for (; dirname(dir) !== dir; dir = dirname(dir)) {
    const file = join(dir, "package.json");
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
    if (pkg.name === "node-llama-cpp" && pkg.version) return pkg.version;
  }
  return "unknown";
}

export interface LlamaCppPeer {
  info(): LlamaCppInfo;
  /** llama.cpp's own tokenization of `text` (no BOS, no special-token parsing). */
  tokenize(text: string): number[];
  /** A context for one thread count: `contextSize` tokens, the whole prompt in one batch. */
  context(threads: number, contextSize: number, batchSize: number): Promise<LlamaCppContext>;
  /**
   * A context of `sequences` parallel sequences of `contextSize` tokens each:
   * streams running at once are evaluated together in llama.cpp's batches.
   */
  parallelContext(threads: number, contextSize: number, sequences: number, batchSize: number): Promise<LlamaCppParallelContext>;
  dispose(): Promise<void>;
}

export interface LlamaCppContext {
  readonly settings: { contextSize: number; batchSize: number; threads: number; flashAttention: string };
  /**
   * Evaluates `prompt` from an empty KV cache, then generates greedily until
   * `decodeSteps` more tokens have been evaluated (the last token sampled is
   * not evaluated, as in our engine). Prefill: from the call to the first
   * sampled token; decode: from there to the last sampled token.
   */
  rep(prompt: readonly number[], decodeSteps: number): Promise<RepTiming>;
  dispose(): Promise<void>;
}

export interface LlamaCppParallelContext {
  /** Greedy generation on a free sequence (from an empty cache): `onToken` for each sampled token, up to `maxTokens` or end of generation. */
  stream(prompt: readonly number[], maxTokens: number, onToken: (token: number) => void): Promise<void>;
  dispose(): Promise<void>;
}

/** Opens `modelPath` in llama.cpp, or says why it cannot (node-llama-cpp missing or unusable). */
export async function loadLlamaCppPeer(modelPath: string): Promise<LlamaCppPeer | { unavailable: string }> {
  let lib: typeof import("node-llama-cpp");
  try {
    lib = await import("node-llama-cpp");
  } catch {
    return { unavailable: "node-llama-cpp is not installed (it is a development dependency of the workspace)" };
  }
  try {
    return await NodeLlamaCppPeer.open(lib, modelPath);
  } catch (err) {
    return { unavailable: `llama.cpp could not load the model: ${(err as Error).message}` };
  }
}

class NodeLlamaCppPeer implements LlamaCppPeer {
  private constructor(
    private readonly llama: Llama,
    private readonly model: LlamaModel,
  ) {}

  static async open(lib: typeof import("node-llama-cpp"), modelPath: string): Promise<LlamaCppPeer> {
    // maxThreads 0: no cap from node-llama-cpp's thread splitter, so a
    // context gets exactly the threads it asks for.
    const llama = await lib.getLlama({ gpu: false, build: "never", logLevel: lib.LlamaLogLevel.error, maxThreads: 0 });
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    return new NodeLlamaCppPeer(llama, model);
  }

  info(): LlamaCppInfo {
    return {
      nodeLlamaCppVersion: nodeLlamaCppVersion(),
      llamaCppRelease: this.llama.llamaCppRelease.release,
      systemInfo: this.llama.systemInfo,
    };
  }

  tokenize(text: string): number[] {
    return this.model.tokenize(text, false).map(Number);
  }

  async context(threads: number, contextSize: number, batchSize: number): Promise<LlamaCppContext> {
    const context = await this.model.createContext({
      contextSize,
      batchSize,
      threads: { ideal: threads, min: threads },
      sequences: 1,
    });
    return new NodeLlamaCppContext(context);
  }

  async parallelContext(threads: number, contextSize: number, sequences: number, batchSize: number): Promise<LlamaCppParallelContext> {
    const context = await this.model.createContext({
      contextSize,
      batchSize,
      threads: { ideal: threads, min: threads },
      sequences,
    });
    return {
      async stream(prompt, maxTokens, onToken) {
        const sequence = context.getSequence();
        try {
          let n = 0;
          for await (const token of sequence.evaluate(prompt.map((id) => id as Token), { temperature: 0 })) {
            if (sequence.model.isEogToken(token)) break;
            onToken(token);
            if (++n >= maxTokens) break;
          }
        } finally {
          sequence.dispose();
        }
      },
      dispose: () => context.dispose(),
    };
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
    await this.llama.dispose();
  }
}

class NodeLlamaCppContext implements LlamaCppContext {
  private readonly sequence: LlamaContextSequence;

  constructor(private readonly context: LlamaContext) {
    this.sequence = context.getSequence();
  }

  get settings(): { contextSize: number; batchSize: number; threads: number; flashAttention: string } {
    return {
      contextSize: this.context.contextSize,
      batchSize: this.context.batchSize,
      threads: this.context.idealThreads,
      flashAttention: String(this.context.flashAttention),
    };
  }

  async rep(prompt: readonly number[], decodeSteps: number): Promise<RepTiming> {
    const sequence = this.sequence;
    // Erase the KV cache of the previous rep: no prefix of it may be reused.
    await sequence.clearHistory();
    if (sequence.nextTokenIndex !== 0) throw new Error("llama.cpp sequence is not empty before a rep");
    const tokens: number[] = [];
    const t0 = performance.now();
    let tFirst = 0;
    let tLast = 0;
    for await (const token of sequence.evaluate(prompt.map((id) => id as Token), { temperature: 0, yieldEogToken: true })) {
      tLast = performance.now();
      if (tokens.length === 0) tFirst = tLast;
      tokens.push(token);
      if (tokens.length > decodeSteps) break;
    }
    const evaluated = sequence.nextTokenIndex;
    if (evaluated !== prompt.length + decodeSteps)
      throw new Error(`llama.cpp evaluated ${evaluated} tokens, expected ${prompt.length + decodeSteps}`);
    return { prefillMs: tFirst - t0, decodeMs: tLast - tFirst, decodeSteps, tokens };
  }

  async dispose(): Promise<void> {
    await this.context.dispose();
  }
}
