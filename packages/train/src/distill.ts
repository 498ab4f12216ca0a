// Sequence-level distillation data: the base model's own greedy responses to
// training prompts, written as chat examples. Training the routers and the
// adapter on them teaches the skipping model to reproduce the full model,
// rather than a task's references, so what it learns carries to inputs it
// never saw. Lines are appended as they finish; a rerun continues.
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import type { ChatMessage, LoadedModel } from "@first/core";
import { fitPromptMessages, type TextCodec, type TrainExample } from "./data.js";

export interface DistillOptions {
  /** Chat examples: everything before the first assistant turn is the prompt. */
  examples: TrainExample[];
  out: string;
  /** Most generated tokens per response (default 96). */
  maxTokens?: number;
  /** Prompts are shortened to this many tokens first (default 160), so prompt and response fit a training sequence. */
  maxPromptTokens?: number;
  /** Generations running at once (batched decode; default 8). */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface DistilledLine {
  messages: ChatMessage[];
  /** The response reached maxTokens without an end-of-turn. */
  truncated: boolean;
}

/** Writes one {messages, truncated} line per example that fits (greedy, full model); returns the lines written now. */
export async function distillExamples(model: LoadedModel, codec: TextCodec, o: DistillOptions): Promise<number> {
  const maxTokens = o.maxTokens ?? 96, maxPrompt = o.maxPromptTokens ?? 160, concurrency = o.concurrency ?? 8;
  const done = existsSync(o.out) ? readFileSync(o.out, "utf8").split("\n").filter((l) => l.trim() !== "").length : 0;
  // Prompts that cannot be shortened enough are left out here, before counting, so positions stay stable.
  const prompts = o.examples.flatMap((ex) => {
    const messages = "messages" in ex ? ex.messages : [{ role: "user", content: ex.prompt }];
    const first = messages.findIndex((m) => m.role === "assistant");
    const fitted = fitPromptMessages(codec, first < 0 ? messages : messages.slice(0, first), maxPrompt);
    return fitted === null ? [] : [fitted];
  });
  let written = 0;
  for (let start = done; start < prompts.length; start += concurrency) {
    if (o.signal?.aborted) break;
    const chunk = prompts.slice(start, start + concurrency);
    const results = await Promise.all(chunk.map((p) => model.generate(p, { temperature: 0, maxTokens, signal: o.signal }).result));
    // In order, so that a rerun knows where to continue.
    const lines = results.map((r, i) =>
      JSON.stringify({ messages: [...chunk[i], { role: "assistant", content: r.text.trim() }], truncated: r.finishReason === "length" } satisfies DistilledLine),
    );
    appendFileSync(o.out, lines.join("\n") + "\n");
    written += lines.length;
    o.onProgress?.(start + chunk.length, prompts.length);
  }
  return written;
}
