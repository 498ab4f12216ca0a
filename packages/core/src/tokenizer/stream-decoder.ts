/**
 * Turns generated token ids into text deltas as they arrive. A character can span several tokens (byte
 * tokens, or byte-level pieces that end inside a UTF-8 sequence); its bytes are held back until the
 * character is complete, so no delta ever contains half a character.
 */
import type { DecodeOptions, Tokenizer } from "./tokenizer.js";

export class TextStreamDecoder {
  private readonly tokenizer: Tokenizer;
  private readonly skipSpecial: boolean;
  private readonly utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
  private atStart = true;

  constructor(tokenizer: Tokenizer, options: DecodeOptions = {}) {
    this.tokenizer = tokenizer;
    this.skipSpecial = options.skipSpecial ?? false;
  }

  /** Add one token; returns the text it completes (possibly ""). */
  push(id: number): string {
    const bytes = this.tokenizer.pieceBytes(id, this.skipSpecial, this.atStart);
    this.atStart &&= id === this.tokenizer.bosId;
    return this.utf8.decode(bytes, { stream: true });
  }

  /** End of stream: returns held-back bytes of an unfinished character (as U+FFFD) and resets. */
  flush(): string {
    this.atStart = true;
    return this.utf8.decode();
  }
}
