// Shapes shared by the evaluation tasks, metrics, runner and result files.
import type { ChatMessage, RouterSetData, LayerPlanSpec } from "@first/core";

/** How an example is run: free generation, log-likelihood of choices, perplexity of a text, or LAMBADA's last word. */
export type ExampleKind = "generate" | "choice" | "perplexity" | "lastword";

/** A prompt the model completes; the output is compared with the references. */
export interface GenerateExample {
  kind: "generate";
  id: string;
  /** Raw text (completed as is) or chat messages (the model's chat template is applied). */
  prompt: string | ChatMessage[];
  /** One or more acceptable outputs (aliases, several reference summaries...). */
  references: string[];
}

/**
 * Multiple choice by log-likelihood: choice i scores log P(continuation_i | context_i).
 * Most sets share one context; WinoGrande varies the context and shares the continuation.
 */
export interface ChoiceExample {
  kind: "choice";
  id: string;
  choices: { context: string; continuation: string }[];
  gold: number;
}

/** A text whose per-token likelihood is measured (chunked into windows of the context length). */
export interface PerplexityExample {
  kind: "perplexity";
  id: string;
  text: string;
}

/** LAMBADA: does the model's greedy continuation of `context` equal `target` (the last word, with its leading space)? */
export interface LastWordExample {
  kind: "lastword";
  id: string;
  context: string;
  target: string;
}

export type EvalExample = GenerateExample | ChoiceExample | PerplexityExample | LastWordExample;

/** Metric families (one file each under eval/metrics). */
export type MetricName = "rouge" | "bleu" | "chrf" | "squad" | "numeric" | "loglik" | "perplexity" | "lambada";

/** Per-example scores, by score name (e.g. rouge1, em, f1, acc, nll). */
export type Scores = Record<string, number>;

/** A task: one dataset folder, its splits, prompt, metric(s) and generation limits. */
export interface TaskDefinition {
  name: string;
  /** One line, shown in listings. */
  description: string;
  /** Folder under the data directory. */
  folder: string;
  kind: ExampleKind;
  /** Metrics reported (generation tasks may report several). */
  metrics: MetricName[];
  /** Default cap on generated tokens (generation tasks). */
  maxTokens: number;
  /** Generation stops before any of these strings. */
  stop: string[];
  /** Evaluation split, in file order. */
  evalExamples(dataDir: string): EvalExample[];
  /** Training split (for routers and adapters); throws FirstError when the set has none. */
  trainExamples(dataDir: string): EvalExample[];
}

/** One evaluated example, as written (one JSON line each) to examples.jsonl. */
export interface ExampleRecord {
  task: string;
  policy: string;
  id: string;
  promptTokens: number;
  /** Generated text; for choice tasks the chosen continuation; for perplexity "". */
  output: string;
  references: string[];
  scores: Scores;
  /** Log-likelihood of each choice (choice tasks). */
  choiceLogprobs?: number[];
  prefillMs: number;
  decodeMs: number;
  /** Tokens generated (generation tasks) or scored (likelihood tasks). */
  tokens: number;
  executedLayers: number;
  skippedLayers: number[];
  kvBytes: number;
}

export interface LatencySummary {
  prefillMsMedian: number;
  decodeMsMedian: number;
  /** Total decode time / total generated tokens (generation tasks; 0 otherwise). */
  msPerOutputToken: number;
  decodeTokensPerSecond: number;
}

export interface EvalSummary {
  task: string;
  policy: string;
  /** Corpus-level quality, by score name (BLEU and chrF 0-100 as sacreBLEU, ratios in [0,1], perplexity >= 1). */
  quality: Scores;
  examples: number;
  latency: LatencySummary;
  /** Mean executed layers per example. */
  executedLayers: number;
  /** skippedLayers[l] = fraction of examples that skipped layer l. */
  skippedLayers: number[];
  kvBytesPerSequence: number;
}

export interface EvaluateOptions {
  /** A registered task name (see TASKS) or a definition. */
  task?: string | TaskDefinition;
  /** Generic JSONL: {prompt, reference}, {messages, reference}, {query, choices, gold} or {text}. */
  dataFile?: string;
  /** Metric for dataFile (default: loglik for choices, perplexity for text, rouge otherwise). */
  metric?: MetricName;
  /** Data folder for tasks (default findDataDir()). */
  dataDir?: string;
  /** Label of the layer policy in records and resume keys (default "full", or "routers" with routers). */
  policy?: string;
  plan?: LayerPlanSpec;
  routers?: RouterSetData;
  threshold?: number;
  /** Executed layers per example with routers (see GenerateOptions.layerBudget). */
  layerBudget?: number;
  /** The budget as a share of the routable layers to skip. */
  skipRatio?: number;
  /** Evaluate only the first N examples of the eval split. */
  limit?: number;
  /** Overrides the task's default generation cap. */
  maxTokens?: number;
  /**
   * Perplexity: tokens per window (default the context length, at most 2048, since attention over
   * longer windows costs far more on a CPU for little change in the result).
   */
  perplexityWindow?: number;
  /** Perplexity: tokens newly scored per window after the first (default half the window). */
  perplexityStride?: number;
  /** Folder for examples.jsonl (appended as results come; rerunning resumes) and summary.json. */
  out?: string;
  /** Called after each example (also for records read back when resuming, with resumed = true). */
  onExample?: (record: ExampleRecord, progress: { done: number; total: number; resumed: boolean }) => void;
  signal?: AbortSignal;
}

export interface EvalResult {
  summary: EvalSummary;
  records: ExampleRecord[];
}

// The runner (eval/runner.ts) exports, all re-exported from @first/eval:
//   evaluate(model: LoadedModel, options: EvaluateOptions): Promise<EvalResult>
//   summarize(task: string, policy: string, records: ExampleRecord[], metrics: MetricName[], nLayers: number): EvalSummary
//   readRecords(file: string): ExampleRecord[]          (examples.jsonl; a torn last line is ignored)
// and the registry (eval/tasks/index.ts): TASKS: TaskDefinition[], getTask(name): TaskDefinition (FirstError listing names).
