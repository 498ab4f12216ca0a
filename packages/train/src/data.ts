// Training examples -> token sequences with per-position targets.
// Two forms: {prompt, response} (raw text, completed as is) and {messages}
// (the model's chat template; loss on the assistant turns only). The router
// input is the prompt: for chat, everything before the first assistant turn's
// content, which is exactly what inference sees as the prompt.
import { existsSync, readFileSync } from "node:fs";
import { renderChat, type ChatMessage, FirstError, readGguf, type Tokenizer, tokenizerForModel } from "@first/core";

export type TrainExample = { prompt: string; response: string } | { messages: ChatMessage[] };

/** One training sequence: targets[i] is the token to predict from position i, or -1 (no loss). */
export interface TrainSequence {
  tokens: Int32Array;
  targets: Int32Array;
  promptLength: number;
}

/** What encoding needs from a model: its tokenizer and chat template. */
export interface TextCodec {
  encode(text: string, addSpecial: boolean): number[];
  decode(ids: number[]): string;
  render(messages: ChatMessage[], addGenerationPrompt: boolean): string;
  /** Appended after a raw-text response so the model learns to stop. */
  eosId: number | undefined;
}

export class TrainDataError extends FirstError {
  constructor(message: string) {
    super("INVALID_OPTION", message);
  }
}

/** The tokenizer and chat template of a GGUF model, read the way loadModel reads them. */
export function codecForModel(modelPath: string): TextCodec {
  const meta = readGguf(modelPath).metadata;
  const tok = tokenizerForModel(modelPath, meta);
  return codecForTokenizer(tok, typeof meta["tokenizer.chat_template"] === "string" ? (meta["tokenizer.chat_template"] as string) : undefined);
}

export function codecForTokenizer(tok: Tokenizer, template: string | undefined): TextCodec {
  const special = (id: number | undefined) => (id !== undefined ? tok.decode([id], { skipSpecial: false }) : "");
  return {
    encode: (text, addSpecial) => tok.encode(text, { addSpecial, parseSpecial: true }),
    decode: (ids) => tok.decode(ids),
    render: (messages, addGenerationPrompt) =>
      renderChat(template, messages, { addGenerationPrompt, bosToken: special(tok.bosId), eosToken: special(tok.eosId) }),
    eosId: tok.eosId,
  };
}

/** Reads a JSONL file of {prompt, response} or {messages: [{role, content}]} lines. */
export function readJsonlExamples(path: string): TrainExample[] {
  if (!existsSync(path)) throw new TrainDataError(`data file ${path} does not exist`);
  const out: TrainExample[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw new TrainDataError(`${path}:${i + 1}: not valid JSON`);
      }
      out.push(checkExample(v, `${path}:${i + 1}`));
    });
  if (out.length === 0) throw new TrainDataError(`${path} has no examples`);
  return out;
}

function checkExample(v: unknown, where: string): TrainExample {
  const o = v as Record<string, unknown>;
  if (o && typeof o.prompt === "string" && typeof o.response === "string") return { prompt: o.prompt, response: o.response };
  if (o && Array.isArray(o.messages)) {
    const messages = o.messages as ChatMessage[];
    if (!messages.every((m) => m && typeof m.role === "string" && typeof m.content === "string"))
      throw new TrainDataError(`${where}: every message needs string "role" and "content"`);
    if (!messages.some((m) => m.role === "assistant")) throw new TrainDataError(`${where}: no assistant message to learn from`);
    return { messages };
  }
  throw new TrainDataError(`${where}: expected {"prompt": ..., "response": ...} or {"messages": [...]}`);
}

/** Token spans of the example: the prompt and the [start, end) spans that carry loss. */
function spans(codec: TextCodec, ex: TrainExample): { tokens: number[]; promptLength: number; loss: [number, number][] } {
  if ("prompt" in ex) {
    const prompt = codec.encode(ex.prompt, true);
    const response = codec.encode(ex.response, false);
    if (codec.eosId !== undefined) response.push(codec.eosId);
    return { tokens: [...prompt, ...response], promptLength: prompt.length, loss: [[prompt.length, prompt.length + response.length]] };
  }
  // Each assistant turn: render the conversation before it (with the assistant header)
  // and through it; the tokens between the two are the turn's content and end marker.
  const full = codec.encode(codec.render(ex.messages, false), false);
  const loss: [number, number][] = [];
  let promptLength = -1;
  ex.messages.forEach((m, k) => {
    if (m.role !== "assistant") return;
    const before = codec.encode(codec.render(ex.messages.slice(0, k), true), false);
    const through = codec.encode(codec.render(ex.messages.slice(0, k + 1), false), false);
    if (!isPrefix(before, full) || !isPrefix(through, full))
      throw new TrainDataError("the chat template does not render conversations as extensions of their prefixes; cannot locate the assistant turns");
    if (promptLength < 0) promptLength = before.length;
    loss.push([before.length, through.length]);
  });
  return { tokens: full, promptLength, loss };
}

const isPrefix = (a: number[], b: number[]) => a.length <= b.length && a.every((t, i) => t === b[i]);

/** The token sequence of an example; null when it cannot fit in maxSeqLen without cutting a response. */
export function encodeExample(codec: TextCodec, ex: TrainExample, maxSeqLen: number): TrainSequence | null {
  let current = ex;
  for (let attempt = 0; attempt < 4; attempt++) {
    const s = spans(codec, current);
    if (s.tokens.length <= maxSeqLen) return toSequence(s);
    const shorter = shortenPrompt(codec, current, s.tokens.length - maxSeqLen + 4 * attempt);
    if (!shorter) return null;
    current = shorter;
  }
  return null;
}

function toSequence(s: { tokens: number[]; promptLength: number; loss: [number, number][] }): TrainSequence {
  const n = s.tokens.length;
  const targets = new Int32Array(n).fill(-1);
  // Position i predicts token i + 1: it carries loss when token i + 1 lies in a loss span.
  for (const [a, b] of s.loss) for (let t = Math.max(a, 1); t < b; t++) targets[t - 1] = s.tokens[t];
  return { tokens: Int32Array.from(s.tokens), targets, promptLength: s.promptLength };
}

/**
 * Chat messages whose rendered prompt (with the assistant header) holds at
 * most maxTokens tokens, shortened as encodeExample shortens prompts; null
 * when even the shortest cut does not fit.
 */
export function fitPromptMessages(codec: TextCodec, messages: ChatMessage[], maxTokens: number): ChatMessage[] | null {
  let current: TrainExample = { messages };
  for (let attempt = 0; attempt < 4; attempt++) {
    const ms = (current as { messages: ChatMessage[] }).messages;
    const n = codec.encode(codec.render(ms, true), false).length;
    if (n <= maxTokens) return ms;
    const shorter = shortenPrompt(codec, current, n - maxTokens + 4 * attempt);
    if (!shorter) return null;
    current = shorter;
  }
  return null;
}

/**
 * Removes about `excess` tokens from the prompt: from the middle of the longest
 * non-assistant message (or of the raw prompt), keeping its first 80% and last
 * 20%, so an instruction at either end survives. Responses are never cut.
 */
function shortenPrompt(codec: TextCodec, ex: TrainExample, excess: number): TrainExample | null {
  const cut = (text: string): string | null => {
    const ids = codec.encode(text, false);
    const keep = ids.length - excess - 8;
    if (keep < 16) return null;
    const head = Math.ceil(keep * 0.8);
    return `${codec.decode(ids.slice(0, head))} ... ${codec.decode(ids.slice(ids.length - (keep - head)))}`;
  };
  if ("prompt" in ex) {
    const p = cut(ex.prompt);
    return p === null ? null : { prompt: p, response: ex.response };
  }
  let longest = -1;
  ex.messages.forEach((m, i) => {
    if (m.role !== "assistant" && (longest < 0 || m.content.length > ex.messages[longest].content.length)) longest = i;
  });
  if (longest < 0) return null;
  const c = cut(ex.messages[longest].content);
  if (c === null) return null;
  return { messages: ex.messages.map((m, i) => (i === longest ? { role: m.role, content: c } : m)) };
}

/** Encodes every example; reports how many were dropped because a response alone was too long. */
export function encodeExamples(codec: TextCodec, examples: TrainExample[], maxSeqLen: number): { sequences: TrainSequence[]; dropped: number } {
  const sequences: TrainSequence[] = [];
  let dropped = 0;
  for (const ex of examples) {
    const s = encodeExample(codec, ex, maxSeqLen);
    if (s && s.targets.some((t) => t >= 0)) sequences.push(s);
    else dropped++;
  }
  return { sequences, dropped };
}
