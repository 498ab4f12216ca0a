// llama.cpp, through node-llama-cpp, as the reference implementation that
// tests and benchmarks compare the engine against. CPU only, never builds.
//
// What node-llama-cpp 3.21.1 exposes about the next token: not raw logits,
// but the full-vocabulary softmax of them. With temperature 0 its sampler
// chain is just the greedy sampler, which leaves the candidate logits
// untouched, and the addon's sampleToken() returns softmax(logits) for every
// vocabulary entry (float32, sorted by probability) when asked for
// `probabilities`. So log(p) equals the logits minus their logsumexp: gaps
// between log-probabilities are logit gaps, but tokens whose probability
// underflows float32 (logit more than ~100 below the top) come out as -Infinity.
import os from "node:os";
import path from "node:path";
import {
  getLlama,
  LlamaLogLevel,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";

/** The model tests run on: env FIRST_TEST_MODEL, else the default model in the cache. */
export function testModelPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FIRST_TEST_MODEL) return env.FIRST_TEST_MODEL;
  const home = env.FIRST_HOME || path.join(os.homedir(), ".cache", "first");
  return path.join(home, "models", "SmolLM2-135M-Instruct.Q4_1.gguf");
}

export interface PeerOptions {
  threads?: number;
  contextSize?: number;
}

export interface GreedyResult {
  tokens: number[];
  /** Per generated token: log-probability of the best token minus that of the second best (= the logit gap). */
  topGaps: number[];
}

export interface Peer {
  readonly vocabSize: number;
  /** Token ids of `text`; no BOS is added. `special` parses special tokens like <|im_start|>. */
  tokenize(text: string, special?: boolean): number[];
  detokenize(ids: readonly number[]): string;
  /** Greedy decoding of `nTokens` tokens after `promptIds`, from an empty context; end-of-text does not stop it. */
  greedy(promptIds: readonly number[], nTokens: number): Promise<GreedyResult>;
  /**
   * Log-probabilities of every vocabulary entry for the token after `promptIds`
   * (log-softmax of the logits; see the note at the top of this file).
   */
  nextTokenLogProbs(promptIds: readonly number[]): Promise<Float32Array>;
  dispose(): Promise<void>;
}

let llamaPromise: Promise<Llama> | undefined;

function sharedLlama(): Promise<Llama> {
  llamaPromise ??= getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  return llamaPromise;
}

export async function openPeer(modelPath: string, options: PeerOptions = {}): Promise<Peer> {
  const llama = await sharedLlama();
  const model: LlamaModel = await llama.loadModel({ modelPath, gpuLayers: 0 });
  let context: LlamaContext;
  try {
    context = await model.createContext({
      contextSize: options.contextSize ?? 2048,
      threads: options.threads ?? 2,
      sequences: 1,
    });
  } catch (err) {
    await model.dispose();
    throw err;
  }
  const sequence: LlamaContextSequence = context.getSequence();
  const vocabSize = vocabularySize(model);

  const toTokens = (ids: readonly number[]) => ids.map((id) => id as Token);

  return {
    vocabSize,
    tokenize: (text, special = true) => model.tokenize(text, special).map(Number),
    detokenize: (ids) => model.detokenize(toTokens(ids), true),

    async greedy(promptIds, nTokens) {
      if (promptIds.length === 0) throw new Error("greedy: the prompt needs at least one token");
      await sequence.clearHistory();
      const tokens: number[] = [];
      const topGaps: number[] = [];
      if (nTokens <= 0) return { tokens, topGaps };
      const steps = sequence.evaluateWithMetadata(toTokens(promptIds), { probabilities: true }, { temperature: 0, yieldEogToken: true });
      for await (const step of steps) {
        tokens.push(step.token);
        topGaps.push(topGap(step.probabilities));
        if (tokens.length >= nTokens) break;
      }
      return { tokens, topGaps };
    },

    async nextTokenLogProbs(promptIds) {
      if (promptIds.length === 0) throw new Error("nextTokenLogProbs: the prompt needs at least one token");
      await sequence.clearHistory();
      const input = toTokens(promptIds);
      const last = input.length - 1;
      const output = await sequence.controlledEvaluate([
        ...input.slice(0, last),
        [input[last], { generateNext: { probabilities: true } }],
      ]);
      const probabilities = output[last]?.next.probabilities;
      if (probabilities === undefined) throw new Error("nextTokenLogProbs: llama.cpp returned no probabilities");
      const logProbs = new Float32Array(vocabSize).fill(-Infinity);
      for (const [token, p] of probabilities) logProbs[token] = Math.log(p);
      return logProbs;
    },

    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}

/** log p(best) - log p(second): the probabilities map is sorted from most to least likely. */
function topGap(probabilities: Map<Token, number>): number {
  const it = probabilities.values();
  const best = it.next().value ?? 0;
  const second = it.next().value ?? 0;
  return Math.log(best) - Math.log(second);
}

/** Rows of the token embedding, which has one per vocabulary entry. */
function vocabularySize(model: LlamaModel): number {
  const embedding = model.fileInfo.tensorInfo?.find((t) => t.name === "token_embd.weight");
  if (embedding === undefined || embedding.dimensions.length !== 2) {
    throw new Error("the model has no 2-D token_embd.weight tensor to read the vocabulary size from");
  }
  return Number(embedding.dimensions[1]);
}
