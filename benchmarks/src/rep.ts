// What one repetition of the speed benchmark measures, for either engine.

export interface RepTiming {
  /** Evaluating the prompt and sampling the first token. */
  prefillMs: number;
  /** Evaluating `decodeSteps` generated tokens one at a time, each followed by sampling the next. */
  decodeMs: number;
  decodeSteps: number;
  /** Generated token ids (decodeSteps + 1 of them). */
  tokens: number[];
}

export const tokensPerSecond = (tokens: number, ms: number): number => (ms > 0 ? (tokens / ms) * 1000 : 0);
