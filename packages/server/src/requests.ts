// OpenAI request bodies: JSON schemas (types; fastify validates them) and
// the range checks and mapping onto generate() options.
import type { ChatMessage, GenerateOptions } from "@first/core";
import { badRequest } from "./errors.js";

const num = { type: "number" } as const;
const int = { type: "integer" } as const;
const stop = { anyOf: [{ type: "string" }, { type: "array", items: { type: "string" } }, { type: "null" }] } as const;
const firstExtension = {
  type: "object",
  properties: {
    routers: { type: ["string", "null"] },
    threshold: num,
    layer_budget: int,
    skip_ratio: num,
    policy: { type: "string" },
  },
} as const;

const sampling = {
  model: { type: "string" },
  max_tokens: { type: ["integer", "null"] },
  max_completion_tokens: { type: ["integer", "null"] },
  temperature: { type: ["number", "null"] },
  top_p: { type: ["number", "null"] },
  top_k: int,
  min_p: num,
  repetition_penalty: num,
  stop,
  seed: { type: ["integer", "null"] },
  // vLLM's extension: generate to max_tokens past any end-of-text token.
  ignore_eos: { type: ["boolean", "null"] },
  n: { type: ["integer", "null"] },
  stream: { type: ["boolean", "null"] },
  stream_options: { type: ["object", "null"], properties: { include_usage: { type: "boolean" } } },
  first: firstExtension,
} as const;

export const chatSchema = {
  type: "object",
  required: ["messages"],
  properties: {
    ...sampling,
    messages: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        required: ["role"],
        properties: {
          role: { type: "string", enum: ["system", "developer", "user", "assistant", "tool"] },
          content: {
            anyOf: [
              { type: "string" },
              { type: "null" },
              { type: "array", items: { type: "object", required: ["type"], properties: { type: { type: "string" }, text: { type: "string" } } } },
            ],
          },
        },
      },
    },
    logprobs: { type: ["boolean", "null"] },
    top_logprobs: { type: ["integer", "null"] },
  },
} as const;

export const completionSchema = {
  type: "object",
  required: ["prompt"],
  properties: {
    ...sampling,
    prompt: {
      anyOf: [
        { type: "string" },
        { type: "array", items: { type: "string" }, minItems: 1, maxItems: 1 },
        { type: "array", items: { type: "integer" }, minItems: 1 },
      ],
    },
    logprobs: { type: ["integer", "null"] },
    echo: { type: ["boolean", "null"] },
  },
} as const;

export interface FirstExtension {
  routers?: string | null;
  threshold?: number;
  layer_budget?: number;
  skip_ratio?: number;
  policy?: string;
}

export interface CommonBody {
  model?: string;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  stop?: string | string[] | null;
  seed?: number | null;
  ignore_eos?: boolean | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean } | null;
  first?: FirstExtension;
}

export interface ChatBody extends CommonBody {
  messages: { role: string; content?: string | null | { type: string; text?: string }[] }[];
  logprobs?: boolean | null;
  top_logprobs?: number | null;
}

export interface CompletionBody extends CommonBody {
  prompt: string | string[] | number[];
  logprobs?: number | null;
  echo?: boolean | null;
}

function range(name: string, v: number | null | undefined, lo: number, hi: number): void {
  if (v === undefined || v === null) return;
  if (!(v >= lo && v <= hi)) throw badRequest(`${name} must be between ${lo} and ${hi}, got ${v}`, name);
}

/** Sampling options from a body (OpenAI's defaults: temperature 1, top_p 1), range-checked. */
export function samplingOptions(b: CommonBody, maxN: number): { options: GenerateOptions; n: number; maxTokens: number | undefined } {
  range("temperature", b.temperature, 0, 2);
  range("top_p", b.top_p, 0, 1);
  range("min_p", b.min_p, 0, 1);
  range("repetition_penalty", b.repetition_penalty, 0.01, 10);
  range("n", b.n, 1, maxN);
  if (b.top_k !== undefined && b.top_k < -1) throw badRequest(`top_k must be -1 (off) or >= 0, got ${b.top_k}`, "top_k");
  const maxTokens = b.max_completion_tokens ?? b.max_tokens ?? undefined;
  if (maxTokens !== undefined && maxTokens < 1) throw badRequest(`max_tokens must be at least 1, got ${maxTokens}`, b.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens");
  if (b.seed !== undefined && b.seed !== null && b.seed < 0) throw badRequest("seed must not be negative", "seed");
  const stops = b.stop === undefined || b.stop === null ? [] : typeof b.stop === "string" ? [b.stop] : b.stop;
  if (stops.length > 4) throw badRequest("stop takes at most 4 sequences", "stop");
  if (stops.some((s) => s.length === 0)) throw badRequest("stop sequences must not be empty", "stop");
  return {
    n: b.n ?? 1,
    maxTokens,
    options: {
      temperature: b.temperature ?? 1,
      topP: b.top_p ?? 1,
      topK: b.top_k === undefined || b.top_k === -1 ? 0 : b.top_k,
      minP: b.min_p ?? 0,
      repeatPenalty: b.repetition_penalty ?? 1,
      seed: b.seed ?? undefined,
      stop: stops.length > 0 ? stops : undefined,
      ignoreEos: b.ignore_eos ?? undefined,
    },
  };
}

/** Chat messages for the template: text parts of a content array are joined. */
export function chatMessages(b: ChatBody): ChatMessage[] {
  return b.messages.map((m, i) => {
    let content: string;
    if (typeof m.content === "string") content = m.content;
    else if (m.content === null || m.content === undefined) content = "";
    else {
      const other = m.content.find((p) => p.type !== "text");
      if (other) throw badRequest(`messages[${i}].content: only text parts are supported, got "${other.type}"`, `messages[${i}].content`);
      content = m.content.map((p) => p.text ?? "").join("");
    }
    return { role: m.role === "developer" ? "system" : (m.role as ChatMessage["role"]), content };
  });
}
