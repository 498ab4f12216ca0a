// GGUF writer (versions 2 and 3) for tests that build tiny models and for
// tools that write GGUF. The file is written under a temporary name in the
// same folder and renamed into place, so a failure never leaves a half file.
import { closeSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { BLOCK_LAYOUT, GGML_TYPE_ID, type GgufTensorType, quantize } from "./quantize.js";

export type { GgufTensorType } from "./quantize.js";

/** GGUF metadata value types, numbered as in the file format. */
export const GGUF_VALUE_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufScalarTypeName = Exclude<keyof typeof GGUF_VALUE_TYPE, "array">;
type NumberTypeName = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";

/**
 * A metadata value. Tagged values pick the GGUF type; plain JS values default:
 *  - string  -> STRING
 *  - boolean -> BOOL
 *  - number  -> UINT32 for integers 0..2^32-1, INT32 for negative integers >= -2^31,
 *               INT64 for other safe integers, FLOAT32 for non-integers
 *  - bigint  -> INT64 (UINT64 above 2^63-1)
 *  - string[] -> ARRAY of STRING, boolean[] -> ARRAY of BOOL,
 *    number[] -> ARRAY of INT32 when every element is an int32, else ARRAY of FLOAT32
 *    (an empty plain array is written as an ARRAY of UINT8).
 * Use a tagged value whenever the type matters to the reader (e.g. token scores
 * must be f32 even when they happen to be whole numbers).
 */
export type GgufWriteValue =
  | string
  | boolean
  | number
  | bigint
  | string[]
  | boolean[]
  | number[]
  | { type: NumberTypeName; value: number }
  | { type: "u64" | "i64"; value: number | bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; elemType: GgufScalarTypeName; value: ReadonlyArray<number | bigint | boolean | string> };

export interface GgufWriteTensor {
  name: string;
  type: GgufTensorType;
  /** ne0 first: [cols, rows, ...] (1 to 4 dimensions). */
  shape: number[];
  /** Row-major values, shape[0] contiguous; length = product of shape. */
  data: Float32Array;
}

export interface GgufWriteOptions {
  version?: 2 | 3;
  /** Power of two; written as general.alignment when not 32. Default 32. */
  alignment?: number;
  metadata: Array<[key: string, value: GgufWriteValue]>;
  tensors: GgufWriteTensor[];
}

const DEFAULT_ALIGNMENT = 32;

/** Writes a GGUF file; throws (leaving nothing at `path`) on invalid input or I/O failure. */
export function writeGguf(path: string, opts: GgufWriteOptions): void {
  const chunks = encodeGguf(opts);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx");
    for (const c of chunks) {
      let done = 0;
      while (done < c.length) done += writeSync(fd, c, done, c.length - done);
    }
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // the temp file may not exist yet
    }
    throw err;
  }
}

/** The bytes of a GGUF file, as a list of chunks to write in order. */
export function encodeGguf(opts: GgufWriteOptions): Uint8Array[] {
  const version = opts.version ?? 3;
  if (version !== 2 && version !== 3) throw new Error(`GGUF version ${String(version)} cannot be written (2 or 3)`);
  const metadata = [...opts.metadata];
  const keys = new Set<string>();
  for (const [key] of metadata) {
    if (!key) throw new Error("GGUF metadata key is empty");
    if (keys.has(key)) throw new Error(`GGUF metadata key '${key}' appears twice`);
    keys.add(key);
  }
  // general.alignment may come from the option, the metadata, or both when they agree.
  const given = metadata.find(([k]) => k === "general.alignment")?.[1];
  const givenNumber =
    given === undefined
      ? undefined
      : typeof given === "number"
        ? given
        : typeof given === "object" && !Array.isArray(given) && given.type === "u32"
          ? given.value
          : NaN;
  const alignment = opts.alignment ?? givenNumber ?? DEFAULT_ALIGNMENT;
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    throw new Error(`GGUF alignment ${alignment} is not a power of two (general.alignment must be a u32)`);
  }
  if (givenNumber === undefined && alignment !== DEFAULT_ALIGNMENT) {
    metadata.push(["general.alignment", { type: "u32", value: alignment }]);
  } else if (givenNumber !== undefined && givenNumber !== alignment) {
    throw new Error(`general.alignment ${givenNumber} in metadata disagrees with the alignment option ${alignment}`);
  }

  const head = new ByteSink();
  head.bytes(new TextEncoder().encode("GGUF"));
  head.u32(version);
  head.u64(BigInt(opts.tensors.length));
  head.u64(BigInt(metadata.length));
  for (const [key, value] of metadata) {
    head.string(key);
    writeValue(head, key, value);
  }

  const names = new Set<string>();
  const data: Uint8Array[] = [];
  let offset = 0;
  for (const t of opts.tensors) {
    const encoded = encodeTensor(t, names);
    head.string(t.name);
    head.u32(t.shape.length);
    for (const d of t.shape) head.u64(BigInt(d));
    head.u32(GGML_TYPE_ID[t.type]);
    head.u64(BigInt(offset));
    const padded = alignUp(encoded.length, alignment);
    data.push(encoded, new Uint8Array(padded - encoded.length));
    offset += padded;
  }
  head.bytes(new Uint8Array(alignUp(head.length, alignment) - head.length));
  return [head.finish(), ...data];
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function encodeTensor(t: GgufWriteTensor, names: Set<string>): Uint8Array {
  if (!t.name) throw new Error("GGUF tensor name is empty");
  if (names.has(t.name)) throw new Error(`GGUF tensor '${t.name}' appears twice`);
  names.add(t.name);
  const layout = BLOCK_LAYOUT[t.type];
  if (!layout) throw new Error(`tensor '${t.name}': unknown type ${String(t.type)}`);
  if (t.shape.length < 1 || t.shape.length > 4) {
    throw new Error(`tensor '${t.name}' has ${t.shape.length} dimensions (1 to 4 are allowed)`);
  }
  let n = 1;
  for (const d of t.shape) {
    if (!Number.isSafeInteger(d) || d <= 0) throw new Error(`tensor '${t.name}' has dimension ${d}`);
    n *= d;
  }
  if (n !== t.data.length) {
    throw new Error(`tensor '${t.name}' has shape [${t.shape.join(", ")}] but ${t.data.length} values`);
  }
  if (t.shape[0] % layout.blockSize !== 0) {
    throw new Error(`tensor '${t.name}': rows of ${t.shape[0]} are not a multiple of the ${t.type} block size ${layout.blockSize}`);
  }
  return quantize(t.type, t.data);
}

type Scalar = number | bigint | boolean | string;

function writeValue(sink: ByteSink, key: string, value: GgufWriteValue): void {
  if (Array.isArray(value)) {
    writeArray(sink, key, defaultArrayType(value), value);
    return;
  }
  if (typeof value === "object") {
    if (value.type === "array") {
      writeArray(sink, key, value.elemType, value.value);
      return;
    }
    sink.u32(GGUF_VALUE_TYPE[value.type]);
    writeScalar(sink, key, value.type, value.value);
    return;
  }
  const type = defaultScalarType(key, value);
  sink.u32(GGUF_VALUE_TYPE[type]);
  writeScalar(sink, key, type, value);
}

function defaultScalarType(key: string, v: string | boolean | number | bigint): GgufScalarTypeName {
  switch (typeof v) {
    case "string":
      return "string";
    case "boolean":
      return "bool";
    case "bigint":
      return v > 0x7fffffffffffffffn ? "u64" : "i64";
    case "number":
      if (!Number.isInteger(v)) return "f32";
      if (v >= 0 && v <= 0xffffffff) return "u32";
      if (v < 0 && v >= -0x80000000) return "i32";
      if (Number.isSafeInteger(v)) return "i64";
      throw new Error(`metadata '${key}': ${v} is not a safe integer; pass a bigint or a tagged value`);
  }
}

function defaultArrayType(values: ReadonlyArray<Scalar>): GgufScalarTypeName {
  if (values.length === 0) return "u8";
  if (values.every((v) => typeof v === "string")) return "string";
  if (values.every((v) => typeof v === "boolean")) return "bool";
  if (values.every((v) => typeof v === "number")) {
    return values.every((v) => Number.isInteger(v) && (v as number) >= -0x80000000 && (v as number) <= 0x7fffffff)
      ? "i32"
      : "f32";
  }
  throw new Error("a plain metadata array must hold only strings, only booleans or only numbers");
}

function writeArray(sink: ByteSink, key: string, elemType: GgufScalarTypeName, values: ReadonlyArray<Scalar>): void {
  if (!(elemType in GGUF_VALUE_TYPE) || (elemType as string) === "array") {
    throw new Error(`metadata '${key}': arrays of ${String(elemType)} cannot be written`);
  }
  sink.u32(GGUF_VALUE_TYPE.array);
  sink.u32(GGUF_VALUE_TYPE[elemType]);
  sink.u64(BigInt(values.length));
  for (const v of values) writeScalar(sink, key, elemType, v);
}

const INT_RANGE: Record<string, [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

function writeScalar(sink: ByteSink, key: string, type: GgufScalarTypeName, v: Scalar): void {
  const bad = (): never => {
    throw new Error(`metadata '${key}': ${String(v)} is not a valid ${type}`);
  };
  switch (type) {
    case "string":
      if (typeof v !== "string") bad();
      sink.string(v as string);
      return;
    case "bool":
      if (typeof v !== "boolean") bad();
      sink.u8(v ? 1 : 0);
      return;
    case "f32":
    case "f64":
      if (typeof v !== "number") bad();
      if (type === "f32") sink.f32(v as number);
      else sink.f64(v as number);
      return;
    case "u64":
    case "i64": {
      if (typeof v !== "number" && typeof v !== "bigint") bad();
      if (typeof v === "number" && !Number.isSafeInteger(v)) bad();
      const b = BigInt(v as number | bigint);
      if (type === "u64" ? b < 0n || b > 0xffffffffffffffffn : b < -(1n << 63n) || b >= 1n << 63n) bad();
      if (type === "u64") sink.u64(b);
      else sink.i64(b);
      return;
    }
    default: {
      const [lo, hi] = INT_RANGE[type];
      if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) bad();
      sink.int(type, v as number);
    }
  }
}

// Growable little-endian byte buffer for the header, metadata and tensor infos.
class ByteSink {
  private buf = new Uint8Array(1024);
  private view = new DataView(this.buf.buffer);
  length = 0;

  // Makes room for n more bytes and returns a view and where they start. The
  // view must be read after growing, hence one call returning both.
  private room(n: number): [DataView, number] {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return [this.view, at];
  }

  bytes(b: Uint8Array): void {
    const [, at] = this.room(b.length);
    this.buf.set(b, at);
  }
  u8(v: number): void {
    const [view, at] = this.room(1);
    view.setUint8(at, v);
  }
  u32(v: number): void {
    const [view, at] = this.room(4);
    view.setUint32(at, v, true);
  }
  u64(v: bigint): void {
    const [view, at] = this.room(8);
    view.setBigUint64(at, v, true);
  }
  i64(v: bigint): void {
    const [view, at] = this.room(8);
    view.setBigInt64(at, v, true);
  }
  f32(v: number): void {
    const [view, at] = this.room(4);
    view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const [view, at] = this.room(8);
    view.setFloat64(at, v, true);
  }
  int(type: string, v: number): void {
    switch (type) {
      case "u8":
        return this.u8(v);
      case "i8": {
        const [view, at] = this.room(1);
        return view.setInt8(at, v);
      }
      case "u16": {
        const [view, at] = this.room(2);
        return view.setUint16(at, v, true);
      }
      case "i16": {
        const [view, at] = this.room(2);
        return view.setInt16(at, v, true);
      }
      case "u32":
        return this.u32(v);
      case "i32": {
        const [view, at] = this.room(4);
        return view.setInt32(at, v, true);
      }
    }
  }
  string(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(BigInt(b.length));
    this.bytes(b);
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}
