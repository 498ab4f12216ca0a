// Perplexity of texts from summed negative log-likelihoods. An example's
// scores hold its totals (nll in nats, scored tokens, words, UTF-8 bytes);
// the corpus values pool them: token perplexity exp(sum nll / sum tokens),
// word perplexity exp(sum nll / sum words) and bits per byte
// (sum nll / ln 2 / sum bytes), which compare across tokenizers.
import type { Scores } from "../types.js";

/** Token windows for a text of n tokens in a context of `window` tokens. */
export interface Window {
  /** Tokens [start, scoreFrom) condition the window; [scoreFrom, end) are scored. */
  start: number;
  scoreFrom: number;
  end: number;
}

/**
 * The first window scores tokens 1..window-1 after token 0 (the BOS token when
 * the tokenizer adds one); each later window scores the next `stride` tokens
 * with the window - stride tokens before them as context, so every token is
 * scored exactly once and, after the first window, sees at least window - stride tokens.
 */
export function perplexityWindows(n: number, window: number, stride: number): Window[] {
  if (window < 2) throw new Error("the perplexity window must hold at least 2 tokens");
  if (stride < 1 || stride >= window) throw new Error(`the perplexity stride must be in [1, ${window - 1}]`);
  const out: Window[] = [];
  if (n < 2) return out;
  let end = Math.min(n, window);
  out.push({ start: 0, scoreFrom: 1, end });
  while (end < n) {
    const next = Math.min(n, end + stride);
    out.push({ start: next - window < 0 ? 0 : next - window, scoreFrom: end, end: next });
    end = next;
  }
  return out;
}

export function textCounts(text: string): { words: number; bytes: number } {
  return { words: text.split(/\s+/).filter((w) => w.length > 0).length, bytes: Buffer.byteLength(text, "utf8") };
}

export function perplexityFromScores(scores: Scores[]): Scores {
  let nll = 0, tokens = 0, words = 0, bytes = 0;
  for (const s of scores) {
    nll += s.nll ?? 0;
    tokens += s.tokens ?? 0;
    words += s.words ?? 0;
    bytes += s.bytes ?? 0;
  }
  return {
    perplexity: tokens > 0 ? Math.exp(nll / tokens) : NaN,
    word_perplexity: words > 0 ? Math.exp(nll / words) : NaN,
    bits_per_byte: bytes > 0 ? nll / Math.LN2 / bytes : NaN,
  };
}
