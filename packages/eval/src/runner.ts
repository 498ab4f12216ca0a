// Runs a task's evaluation examples through a loaded model, one at a time so
// that latencies are those of a single sequence. With an output folder each
// record is appended to examples.jsonl as soon as it is scored (an interrupt
// loses nothing), and a rerun skips the examples already there for the same
// task and policy.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findDataDir, AbortedError, FirstError, type LoadedModel, type GenerateOptions } from "@first/core";
import { dataFileTask } from "./data-file.js";
import { aggregate, scoreOutput } from "./metrics/index.js";
import { lastWordScores } from "./metrics/lambada.js";
import { choiceScores } from "./metrics/loglik.js";
import { perplexityWindows, textCounts } from "./metrics/perplexity.js";
import { getTask } from "./tasks/index.js";
import type {
  ChoiceExample,
  EvalExample,
  EvalResult,
  EvalSummary,
  EvaluateOptions,
  ExampleRecord,
  GenerateExample,
  LastWordExample,
  MetricName,
  PerplexityExample,
  TaskDefinition,
} from "./types.js";

export const EXAMPLES_FILE = "examples.jsonl";
export const SUMMARY_FILE = "summary.json";
const DEFAULT_PERPLEXITY_WINDOW = 2048;

/** The task an options object names: a registered task, a definition, or a JSONL file. */
export function resolveTask(options: Pick<EvaluateOptions, "task" | "dataFile" | "metric">): TaskDefinition {
  if (options.task !== undefined && options.dataFile !== undefined) throw new FirstError("INVALID_OPTION", "give a task or a data file, not both");
  if (options.task !== undefined) {
    if (options.metric !== undefined) throw new FirstError("INVALID_OPTION", "a metric can only be chosen for a data file (tasks have their own)");
    return typeof options.task === "string" ? getTask(options.task) : options.task;
  }
  if (options.dataFile !== undefined) return dataFileTask(options.dataFile, options.metric);
  throw new FirstError("INVALID_OPTION", "give a task or a data file");
}

/** The policy label used in records: the given one, else "routers" or "full". */
function policyLabel(options: EvaluateOptions): string {
  if (options.policy !== undefined) return options.policy;
  if (options.routers !== undefined) return "routers";
  return options.plan === undefined || options.plan.kind === "full" ? "full" : options.plan.kind;
}

export async function evaluate(model: LoadedModel, options: EvaluateOptions): Promise<EvalResult> {
  const task = resolveTask(options);
  const policy = policyLabel(options);
  const dataDir = task.folder === "" ? "" : findDataDir(options.dataDir);
  let examples = task.evalExamples(dataDir);
  if (options.limit !== undefined) examples = examples.slice(0, options.limit);

  const file = options.out === undefined ? undefined : join(options.out, EXAMPLES_FILE);
  const done = new Map<string, ExampleRecord>();
  if (file !== undefined) {
    mkdirSync(options.out!, { recursive: true });
    for (const r of readRecords(file)) if (r.task === task.name && r.policy === policy) done.set(r.id, r);
    // A line torn by an interrupt stays on its own line, skipped by readRecords.
    if (existsSync(file)) {
      const text = readFileSync(file, "utf8");
      if (text.length > 0 && !text.endsWith("\n")) appendFileSync(file, "\n");
    }
  }

  const run = new ExampleRunner(model, task, policy, options);
  const records: ExampleRecord[] = [];
  for (const ex of examples) {
    if (options.signal?.aborted) throw new AbortedError();
    const old = done.get(ex.id);
    const record = old ?? (await run.example(ex));
    if (old === undefined && file !== undefined) appendFileSync(file, `${JSON.stringify(record)}\n`);
    records.push(record);
    options.onExample?.(record, { done: records.length, total: examples.length, resumed: old !== undefined });
  }

  const summary = summarize(task.name, policy, records, task.metrics, model.config.nLayers);
  if (options.out !== undefined) writeFileSync(join(options.out, SUMMARY_FILE), `${JSON.stringify(summary, null, 2)}\n`);
  return { summary, records };
}

/** Records of an examples.jsonl file; unreadable lines (an interrupted write) are skipped. */
export function readRecords(file: string): ExampleRecord[] {
  if (!existsSync(file)) return [];
  const out: ExampleRecord[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.trim().length === 0) continue;
    try {
      const r = JSON.parse(line) as ExampleRecord;
      if (typeof r.id === "string" && typeof r.task === "string" && typeof r.policy === "string") out.push(r);
    } catch {
      // torn line
    }
  }
  return out;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Corpus quality and the cost of a set of records. msPerOutputToken counts
 * decode steps (the first output token comes from the prefill); it and
 * decodeTokensPerSecond are 0 for likelihood tasks, which do not decode.
 */
export function summarize(task: string, policy: string, records: ExampleRecord[], metrics: MetricName[], nLayers: number): EvalSummary {
  const quality = Object.assign({}, ...metrics.map((m) => aggregate(m, records))) as Record<string, number>;
  const generative = metrics.some((m) => m !== "loglik" && m !== "perplexity" && m !== "lambada");
  const decodeMs = records.reduce((a, r) => a + r.decodeMs, 0);
  const steps = records.reduce((a, r) => a + Math.max(0, r.tokens - 1), 0);
  const skipped = new Array<number>(nLayers).fill(0);
  for (const r of records) for (const l of r.skippedLayers) if (l >= 0 && l < nLayers) skipped[l]++;
  const n = records.length;
  return {
    task,
    policy,
    quality,
    examples: n,
    latency: {
      prefillMsMedian: median(records.map((r) => r.prefillMs)),
      decodeMsMedian: median(records.map((r) => r.decodeMs)),
      msPerOutputToken: generative && steps > 0 ? decodeMs / steps : 0,
      decodeTokensPerSecond: generative && decodeMs > 0 ? (steps / decodeMs) * 1000 : 0,
    },
    executedLayers: n > 0 ? records.reduce((a, r) => a + r.executedLayers, 0) / n : 0,
    skippedLayers: skipped.map((c) => (n > 0 ? c / n : 0)),
    kvBytesPerSequence: n > 0 ? records.reduce((a, r) => a + r.kvBytes, 0) / n : 0,
  };
}

/** Runs one example of each kind and builds its record. */
class ExampleRunner {
  private readonly layers: Pick<GenerateOptions, "plan" | "routers" | "threshold" | "layerBudget" | "skipRatio">;

  constructor(
    private readonly model: LoadedModel,
    private readonly task: TaskDefinition,
    private readonly policy: string,
    private readonly options: EvaluateOptions,
  ) {
    this.layers = {
      plan: options.plan,
      routers: options.routers,
      threshold: options.threshold,
      layerBudget: options.layerBudget,
      skipRatio: options.skipRatio,
    };
  }

  example(ex: EvalExample): Promise<ExampleRecord> {
    switch (ex.kind) {
      case "generate":
        return this.generate(ex);
      case "choice":
        return this.choice(ex);
      case "lastword":
        return this.lastWord(ex);
      case "perplexity":
        return this.perplexity(ex);
    }
  }

  private base(id: string, executed: boolean[]) {
    const skippedLayers = executed.flatMap((e, l) => (e ? [] : [l]));
    return {
      task: this.task.name,
      policy: this.policy,
      id,
      executedLayers: executed.length - skippedLayers.length,
      skippedLayers,
    };
  }

  private async generate(ex: GenerateExample): Promise<ExampleRecord> {
    const result = await this.model.generate(ex.prompt, {
      ...this.layers,
      temperature: 0,
      maxTokens: this.options.maxTokens ?? this.task.maxTokens,
      stop: this.task.stop.length > 0 ? this.task.stop : undefined,
      signal: this.options.signal,
    }).result;
    const output = result.text.trim();
    return {
      ...this.base(ex.id, result.executed),
      promptTokens: result.promptTokenIds.length,
      output,
      references: ex.references,
      scores: Object.assign({}, ...this.task.metrics.map((m) => scoreOutput(m, output, ex.references))),
      prefillMs: result.timings.prefillMs,
      decodeMs: result.timings.decodeMs,
      tokens: result.tokens.length,
      kvBytes: result.kvBytes,
    };
  }

  /** Prompt and continuation token ids, split where the context's own tokens end (as lm-evaluation-harness). */
  private split(context: string, continuation: string): { prompt: number[]; cont: number[] } {
    const whole = this.model.tokenize(context + continuation);
    const prompt = this.model.tokenize(context);
    const shared = prompt.length <= whole.length && prompt.every((t, i) => whole[i] === t);
    const cont = shared ? whole.slice(prompt.length) : this.model.tokenize(continuation, { addSpecial: false });
    if (prompt.length === 0) throw new FirstError("INVALID_OPTION", "an example has an empty context");
    return { prompt, cont };
  }

  private async choice(ex: ChoiceExample): Promise<ExampleRecord> {
    const logprobs: number[] = [];
    let prefillMs = 0, decodeMs = 0, tokens = 0, kvBytes = 0, promptTokens = 0;
    let executed: boolean[] = [];
    for (const [i, c] of ex.choices.entries()) {
      const { prompt, cont } = this.split(c.context, c.continuation);
      const r = await this.model.scoreTokens(prompt, cont, this.layers);
      logprobs.push(r.logprobs.reduce((a, b) => a + b, 0));
      prefillMs += r.prefillMs;
      decodeMs += r.scoreMs;
      tokens += cont.length;
      kvBytes = Math.max(kvBytes, r.kvBytes);
      promptTokens = Math.max(promptTokens, prompt.length);
      if (i === 0) executed = r.executed; // choices share the context (WinoGrande's differ by a word)
    }
    if (this.options.signal?.aborted) throw new AbortedError();
    const { chosen, ...scores } = choiceScores(logprobs, ex.choices.map((c) => c.continuation), ex.gold);
    return {
      ...this.base(ex.id, executed),
      promptTokens,
      output: ex.choices[chosen].continuation.trim(),
      references: [ex.choices[ex.gold].continuation.trim()],
      scores,
      choiceLogprobs: logprobs,
      prefillMs,
      decodeMs,
      tokens,
      kvBytes,
    };
  }

  private async lastWord(ex: LastWordExample): Promise<ExampleRecord> {
    const { prompt, cont } = this.split(ex.context, ex.target);
    const r = await this.model.scoreTokens(prompt, cont, this.layers);
    return {
      ...this.base(ex.id, r.executed),
      promptTokens: prompt.length,
      output: r.greedyMatch ? ex.target.trim() : "",
      references: [ex.target.trim()],
      scores: lastWordScores(r.logprobs, r.greedyMatch),
      prefillMs: r.prefillMs,
      decodeMs: r.scoreMs,
      tokens: cont.length,
      kvBytes: r.kvBytes,
    };
  }

  private async perplexity(ex: PerplexityExample): Promise<ExampleRecord> {
    const ids = this.model.tokenize(ex.text);
    const window = Math.min(this.model.engine.contextLength, this.options.perplexityWindow ?? DEFAULT_PERPLEXITY_WINDOW);
    const stride = this.options.perplexityStride ?? Math.max(1, window >> 1);
    let nll = 0, scored = 0, prefillMs = 0, decodeMs = 0, kvBytes = 0;
    let executed: boolean[] = new Array<boolean>(this.model.config.nLayers).fill(true);
    for (const [i, w] of perplexityWindows(ids.length, window, stride).entries()) {
      if (this.options.signal?.aborted) throw new AbortedError();
      const r = await this.model.scoreTokens(ids.slice(w.start, w.scoreFrom), ids.slice(w.scoreFrom, w.end), this.layers);
      nll -= r.logprobs.reduce((a, b) => a + b, 0);
      scored += r.logprobs.length;
      prefillMs += r.prefillMs;
      decodeMs += r.scoreMs;
      kvBytes = Math.max(kvBytes, r.kvBytes);
      if (i === 0) executed = r.executed;
    }
    const { words, bytes } = textCounts(ex.text);
    return {
      ...this.base(ex.id, executed),
      promptTokens: ids.length,
      output: "",
      references: [],
      scores: { nll, tokens: scored, words, bytes },
      prefillMs,
      decodeMs,
      tokens: scored,
      kvBytes,
    };
  }
}
