/**
 * readGgufMetadata(path): the key/value section of a GGUF file as a plain object, which is what
 * Tokenizer.fromGgufMetadata takes. It reads only the header and metadata (a few MB), never the tensors.
 * Integers come back as numbers (bigint only beyond 2^53), arrays as plain arrays.
 *
 * This is a small reader of the GGUF v2/v3 layout so the tokenizer works on its own; where the native
 * addon is loaded, its readGguf(path).metadata gives the same object and can be used instead.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { ModelLoadError } from "../errors.js";

// GGUF value type codes.
const STRING = 8;
const BOOL = 7;
const ARRAY = 9;

/** Fixed-size value types: code -> [size in bytes, reader]. */
const FIXED: Record<number, [number, (b: Buffer, at: number) => number | bigint]> = {
  0: [1, (b, at) => b.readUInt8(at)],
  1: [1, (b, at) => b.readInt8(at)],
  2: [2, (b, at) => b.readUInt16LE(at)],
  3: [2, (b, at) => b.readInt16LE(at)],
  4: [4, (b, at) => b.readUInt32LE(at)],
  5: [4, (b, at) => b.readInt32LE(at)],
  6: [4, (b, at) => b.readFloatLE(at)],
  10: [8, (b, at) => b.readBigUInt64LE(at)],
  11: [8, (b, at) => b.readBigInt64LE(at)],
  12: [8, (b, at) => b.readDoubleLE(at)],
};

const CHUNK = 1 << 20;

/** Sequential little-endian reads from a file, pulling more bytes in as they are needed. */
class FileCursor {
  private buf = Buffer.alloc(0);
  private pos = 0;
  private fileOffset = 0;
  private readonly utf8 = new TextDecoder("utf-8");

  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {}

  private need(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const keep = this.buf.subarray(this.pos);
    const chunk = Buffer.alloc(Math.max(CHUNK, n - keep.length));
    const got = readSync(this.fd, chunk, 0, chunk.length, this.fileOffset);
    this.fileOffset += got;
    this.buf = Buffer.concat([keep, chunk.subarray(0, got)]);
    this.pos = 0;
    if (n > this.buf.length) throw new ModelLoadError(`${this.path}: GGUF metadata is truncated`);
  }

  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  length(): number {
    this.need(8);
    const n = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ModelLoadError(`${this.path}: GGUF length ${n} is too large`);
    return Number(n);
  }
  string(): string {
    const n = this.length();
    this.need(n);
    const s = this.utf8.decode(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }
  scalar(type: number): unknown {
    if (type === STRING) return this.string();
    if (type === BOOL) return this.u8() !== 0;
    const entry = FIXED[type];
    if (!entry) throw new ModelLoadError(`${this.path}: unknown GGUF value type ${type}`);
    const [size, read] = entry;
    this.need(size);
    const v = read(this.buf, this.pos);
    this.pos += size;
    if (typeof v === "bigint" && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) {
      return Number(v);
    }
    return v;
  }
  value(type: number): unknown {
    if (type !== ARRAY) return this.scalar(type);
    const itemType = this.u32();
    const n = this.length();
    const items: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) items[i] = this.value(itemType);
    return items;
  }
}

export function readGgufMetadata(path: string): Record<string, unknown> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (cause) {
    throw new ModelLoadError(`Cannot open model file ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    const cur = new FileCursor(fd, path);
    const magic = cur.u32();
    if (magic !== 0x46554747) throw new ModelLoadError(`${path} is not a GGUF file (bad magic)`);
    const version = cur.u32();
    if (version < 2) throw new ModelLoadError(`${path}: GGUF version ${version} is not supported (need 2 or later)`);
    cur.length(); // tensor count
    const kvCount = cur.length();
    const meta: Record<string, unknown> = Object.create(null);
    for (let i = 0; i < kvCount; i++) {
      const key = cur.string();
      meta[key] = cur.value(cur.u32());
    }
    return meta;
  } finally {
    closeSync(fd);
  }
}
