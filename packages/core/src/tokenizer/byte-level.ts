/**
 * The byte <-> character table of byte-level BPE (GPT-2 style): every byte value gets a printable
 * character, so vocabularies can store arbitrary bytes as text. Printable Latin-1 bytes map to
 * themselves; the other 68 bytes map to U+0100 onwards in byte order.
 */

function isSelfMapped(byte: number): boolean {
  return (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
}

const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = new Array(256);
  let next = 0x100;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCharCode(isSelfMapped(b) ? b : next++);
  }
  return table;
})();

const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(
  BYTE_TO_CHAR.map((ch, b) => [ch.charCodeAt(0), b] as const),
);

const utf8 = new TextEncoder();

/**
 * Bytes of a byte-level token text. Characters outside the table (which a well-formed byte-level
 * vocabulary never contains) are kept as their own UTF-8 bytes rather than dropped.
 */
export function byteLevelTextToBytes(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    const b = CHAR_TO_BYTE.get(cp);
    if (b !== undefined) out.push(b);
    else out.push(...utf8.encode(ch));
  }
  return Uint8Array.from(out);
}
