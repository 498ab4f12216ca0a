// A deterministic mutator for the loader fuzz tests: byte flips, overwrites
// with boundary values, truncation, splices between seeds, and mutations that
// understand the two formats the loaders read (JSON documents and the
// safetensors length-prefixed JSON header), so that many mutants get past the
// first parse and reach the checks behind it. It is not coverage-guided: the
// same seed and count always give the same inputs.

import { makeRandom } from "../../src/gguf/tiny-model.js";

export const makeRng = makeRandom;

type Rng = () => number;
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
const below = (rng: Rng, n: number) => Math.floor(rng() * n);

const BOUNDARY_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
const BOUNDARY_U64 = [0n, 1n, 7n, 8n, 0x7fffffffn, 0xffffffffn, 2n ** 53n, 2n ** 63n - 1n, 2n ** 64n - 1n];

// Values a hostile JSON document might hold where the loader expects something else.
const HOSTILE_JSON: readonly unknown[] = [
  null, true, false, 0, -1, 1, 2, 1.5, -0.5, 1e308, 1e999, -1e999, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2,
  Number.MAX_SAFE_INTEGER, "", "x", "F32", "F16", "BF16", "I64", "LORA", "linear", "mlp", "__proto__",
  [], [0], [0, 0], [1, 2, 3], [-1, 4], [2 ** 40, 2 ** 40], [1e999], ["a"], {}, { a: 1 }, { __proto__: 1 },
];

function mutateBytes(rng: Rng, input: Uint8Array, others: readonly Uint8Array[]): Uint8Array {
  const b = Uint8Array.from(input);
  switch (below(rng, 7)) {
    case 0: { // flip a few bits
      const n = 1 + below(rng, 4);
      for (let i = 0; i < n && b.length; i++) b[below(rng, b.length)] ^= 1 << below(rng, 8);
      return b;
    }
    case 1: { // set bytes to boundary values
      const n = 1 + below(rng, 4);
      for (let i = 0; i < n && b.length; i++) b[below(rng, b.length)] = pick(rng, BOUNDARY_BYTES);
      return b;
    }
    case 2: // truncate
      return b.subarray(0, below(rng, b.length + 1));
    case 3: { // overwrite an aligned 8-byte field (the safetensors header length lives at 0)
      if (b.length < 8) return b;
      const at = rng() < 0.5 ? 0 : 8 * below(rng, Math.floor(b.length / 8));
      new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(at, pick(rng, BOUNDARY_U64), true);
      return b;
    }
    case 4: { // splice: a prefix of this one and a suffix of another
      const other = pick(rng, others.length ? others : [input]);
      const cut = below(rng, b.length + 1);
      const from = below(rng, other.length + 1);
      const out = new Uint8Array(cut + other.length - from);
      out.set(b.subarray(0, cut));
      out.set(other.subarray(from), cut);
      return out;
    }
    case 5: { // duplicate a chunk in place
      if (!b.length) return b;
      const at = below(rng, b.length);
      const len = 1 + below(rng, Math.min(64, b.length - at));
      const out = new Uint8Array(b.length + len);
      out.set(b.subarray(0, at + len));
      out.set(b.subarray(at, at + len), at + len);
      out.set(b.subarray(at + len), at + 2 * len);
      return out;
    }
    default: { // delete a chunk
      if (!b.length) return b;
      const at = below(rng, b.length);
      const len = 1 + below(rng, Math.min(64, b.length - at));
      const out = new Uint8Array(b.length - len);
      out.set(b.subarray(0, at));
      out.set(b.subarray(at + len), at);
      return out;
    }
  }
}

// Replaces, deletes or adds one value somewhere in a parsed JSON document.
function mutateJsonValue(rng: Rng, doc: unknown): unknown {
  if (doc === null || typeof doc !== "object" || rng() < 0.15) return pick(rng, HOSTILE_JSON);
  const isArray = Array.isArray(doc);
  const copy: Record<string, unknown> | unknown[] = isArray ? [...doc] : { ...(doc as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const r = rng();
  if (!keys.length || r < 0.1) {
    const key = isArray ? String(keys.length) : pick(rng, ["__metadata__", "extra", "x", ...keys, "0"]);
    (copy as Record<string, unknown>)[key] = pick(rng, HOSTILE_JSON);
  } else if (r < 0.2) {
    const key = pick(rng, keys);
    if (isArray) (copy as unknown[]).splice(Number(key), 1);
    else delete (copy as Record<string, unknown>)[key];
  } else {
    const key = pick(rng, keys);
    (copy as Record<string, unknown>)[key] = mutateJsonValue(rng, (copy as Record<string, unknown>)[key]);
  }
  return copy;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function mutateJsonText(rng: Rng, input: Uint8Array): Uint8Array | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(input));
  } catch {
    return undefined;
  }
  return encoder.encode(JSON.stringify(mutateJsonValue(rng, doc)) ?? "null");
}

// Mutates the JSON header of a safetensors file and rewrites its length, so
// the loader's checks of shapes, dtypes and offsets see the mutation.
function mutateSafetensorsHeader(rng: Rng, input: Uint8Array): Uint8Array | undefined {
  if (input.length < 8) return undefined;
  const len = Number(new DataView(input.buffer, input.byteOffset, 8).getBigUint64(0, true));
  if (8 + len > input.length) return undefined;
  const header = mutateJsonText(rng, input.subarray(8, 8 + len));
  if (!header) return undefined;
  const data = input.subarray(8 + len);
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

export type FileKind = "json" | "safetensors";

/** One mutant of `input`, a file of the given kind; `others` are splice partners. */
export function mutate(rng: Rng, input: Uint8Array, kind: FileKind, others: readonly Uint8Array[] = []): Uint8Array {
  let out = input;
  const rounds = 1 + below(rng, 3);
  for (let i = 0; i < rounds; i++) {
    const structured = rng() < 0.6;
    const next = structured
      ? kind === "json" ? mutateJsonText(rng, out) : mutateSafetensorsHeader(rng, out)
      : undefined;
    out = next ?? mutateBytes(rng, out, others);
  }
  return out;
}
