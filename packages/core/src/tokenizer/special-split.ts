/**
 * Splitting text around special-token texts, with llama.cpp's rule: special tokens are taken longest text
 * first, and each one is cut out of every stretch of plain text still left, left to right. (This differs
 * from a leftmost-longest scan only when special texts overlap, which real vocabularies avoid, but it
 * keeps ids identical to llama.cpp's.)
 */

/** A piece of the input: plain text to tokenize, or the id of a special token found in it. */
export type Fragment = string | number;

export interface SpecialToken {
  id: number;
  text: string;
  /** Matched only when the caller asks to parse special tokens (CONTROL and UNKNOWN types). */
  onlyWhenParsing: boolean;
}

export class SpecialSplitter {
  private readonly specials: SpecialToken[];

  constructor(specials: readonly SpecialToken[]) {
    const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");
    this.specials = specials
      .filter((s) => s.text.length > 0)
      .map((s) => ({ ...s, bytes: utf8Length(s.text) }))
      .sort((a, b) => b.bytes - a.bytes || a.id - b.id)
      .map(({ id, text, onlyWhenParsing }) => ({ id, text, onlyWhenParsing }));
  }

  split(text: string, parseSpecial: boolean): Fragment[] {
    if (text.length === 0) return [];
    let fragments: Fragment[] = [text];
    for (const special of this.specials) {
      if (special.onlyWhenParsing && !parseSpecial) continue;
      if (!text.includes(special.text)) continue;
      const next: Fragment[] = [];
      for (const fragment of fragments) {
        if (typeof fragment === "number") {
          next.push(fragment);
          continue;
        }
        let start = 0;
        for (let at = fragment.indexOf(special.text); at !== -1; at = fragment.indexOf(special.text, start)) {
          if (at > start) next.push(fragment.slice(start, at));
          next.push(special.id);
          start = at + special.text.length;
        }
        if (start < fragment.length) next.push(fragment.slice(start));
      }
      fragments = next;
    }
    return fragments;
  }
}
