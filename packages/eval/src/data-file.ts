// A task from a user's JSONL file (`first eval --data FILE --metric NAME`).
// Each line is one of:
//   {"prompt": "...", "reference": "..." | [...]}        raw text completed as is
//   {"messages": [{role, content}...], "reference": ...}  the chat template is applied
//   {"query": "...", "choices": [...], "gold": 0}         multiple choice by log-likelihood (" " + choice)
//   {"text": "..."}                                       perplexity
// An optional "id" names the example (default: its line number from 0).
import { basename } from "node:path";
import { type ChatMessage, FirstError } from "@first/core";
import { GENERATION_METRICS } from "./metrics/index.js";
import { readJsonl } from "./tasks/files.js";
import type { EvalExample, MetricName, TaskDefinition } from "./types.js";

interface Row {
  id?: string | number;
  prompt?: string;
  messages?: ChatMessage[];
  reference?: string | string[];
  references?: string[];
  query?: string;
  choices?: string[];
  gold?: number;
  text?: string;
}

function toExample(r: Row, i: number, where: string): EvalExample {
  const id = r.id === undefined ? String(i) : String(r.id);
  if (typeof r.text === "string") return { kind: "perplexity", id, text: r.text };
  if (Array.isArray(r.choices)) {
    if (typeof r.query !== "string" || !Number.isInteger(r.gold) || r.gold! < 0 || r.gold! >= r.choices.length)
      throw new FirstError("INVALID_OPTION", `${where}: a choice line needs "query", "choices" and a valid "gold" index`);
    return { kind: "choice", id, choices: r.choices.map((c) => ({ context: r.query!, continuation: ` ${c}` })), gold: r.gold! };
  }
  const references = r.references ?? (r.reference === undefined ? undefined : Array.isArray(r.reference) ? r.reference : [r.reference]);
  if (references === undefined || references.some((x) => typeof x !== "string"))
    throw new FirstError("INVALID_OPTION", `${where}: needs "reference" (a string or a list of strings)`);
  if (Array.isArray(r.messages)) return { kind: "generate", id, prompt: r.messages, references };
  if (typeof r.prompt === "string") return { kind: "generate", id, prompt: r.prompt, references };
  throw new FirstError("INVALID_OPTION", `${where}: needs "prompt" or "messages" (or "query"+"choices", or "text")`);
}

/** A task over a JSONL file; the metric defaults by the kind of the first line. */
export function dataFileTask(path: string, metric?: MetricName): TaskDefinition {
  const examples = readJsonl<Row>(path).map((r, i) => toExample(r, i, `${path}:${i + 1}`));
  if (examples.length === 0) throw new FirstError("INVALID_OPTION", `${path} has no examples`);
  const kind = examples[0].kind;
  if (examples.some((e) => e.kind !== kind)) throw new FirstError("INVALID_OPTION", `${path} mixes kinds of examples`);
  const fallback: MetricName = kind === "choice" ? "loglik" : kind === "perplexity" ? "perplexity" : "rouge";
  const chosen = metric ?? fallback;
  const fits = kind === "generate" ? GENERATION_METRICS.includes(chosen) : chosen === fallback;
  if (!fits)
    throw new FirstError(
      "INVALID_OPTION",
      `metric ${chosen} does not fit ${kind} examples (use ${kind === "generate" ? GENERATION_METRICS.join(", ") : fallback})`,
    );
  return {
    name: `data:${basename(path)}`,
    description: `examples from ${path}`,
    folder: "",
    kind,
    metrics: [chosen],
    maxTokens: 128,
    stop: [],
    evalExamples: () => examples,
    trainExamples: () => examples,
  };
}
