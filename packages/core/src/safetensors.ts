// safetensors files: an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {..}},
// then the raw little-endian tensor bytes. F32, F16 and BF16 are read and
// written (routers and LoRA adapters).
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { FirstError } from "./errors.js";
import { bf16ToF32, f32ToBf16, f32ToF16 } from "./gguf/quantize.js";

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

export class SafetensorsError extends FirstError {
  constructor(message: string) {
    super("MODEL_LOAD", message);
  }
}

const MAX_HEADER = 100 * 1024 * 1024;

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Reads every tensor as f32. Throws SafetensorsError naming the file and the problem. */
export function readSafetensors(path: string): { tensors: Map<string, NamedTensor>; metadata: Record<string, string> } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new SafetensorsError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const bad = (why: string) => new SafetensorsError(`invalid safetensors file ${path}: ${why}`);
  if (buf.length < 8) throw bad("shorter than its 8-byte header length");
  const headerLen = Number(buf.readBigUInt64LE(0));
  if (headerLen > MAX_HEADER || 8 + headerLen > buf.length) throw bad(`header length ${headerLen} runs past the end`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + headerLen).toString("utf8"));
  } catch {
    throw bad("header is not JSON");
  }
  if (!isObject(header)) throw bad("header is not an object");
  const dataStart = 8 + headerLen;
  const dataLen = buf.length - dataStart;
  const tensors = new Map<string, NamedTensor>();
  let metadata: Record<string, string> = {};
  const ranges: Array<[begin: number, end: number, name: string]> = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = readMetadata(raw, bad);
      continue;
    }
    if (!isObject(raw)) throw bad(`tensor ${name} is not described by an object`);
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw bad(`tensor ${name} has an invalid shape`);
    if (!Array.isArray(info.data_offsets) || info.data_offsets.length !== 2) throw bad(`tensor ${name} has no data_offsets`);
    const [begin, end] = info.data_offsets as number[];
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < begin || end > dataLen)
      throw bad(`tensor ${name} data [${begin}, ${end}) lies outside the file`);
    const count = (info.shape as number[]).reduce((a, b) => a * b, 1);
    const size = typeof info.dtype === "string" && Object.hasOwn(DTYPE_BYTES, info.dtype) ? DTYPE_BYTES[info.dtype] : undefined;
    if (size === undefined) throw bad(`tensor ${name} has unsupported dtype ${String(info.dtype)} (F32, F16, BF16 are read)`);
    // Checked before anything is allocated: the shape must match bytes the file has.
    if (count * size !== end - begin) throw bad(`tensor ${name}: ${end - begin} bytes for shape [${info.shape}] of ${info.dtype}`);
    ranges.push([begin, end, name]);
    const data = new Float32Array(count);
    const at = dataStart + begin;
    for (let i = 0; i < count; i++) {
      if (info.dtype === "F32") data[i] = buf.readFloatLE(at + 4 * i);
      else if (info.dtype === "F16") data[i] = halfToFloat(buf.readUInt16LE(at + 2 * i));
      else data[i] = bf16ToF32(buf.readUInt16LE(at + 2 * i));
    }
    tensors.set(name, { shape: info.shape as number[], data });
  }
  // Two tensors sharing bytes means the header is corrupt (writers lay them end to end).
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let reach = 0, reachName = "";  // the furthest end so far, and whose it is
  for (const [begin, end, name] of ranges) {
    if (end === begin) continue;  // an empty tensor holds no bytes
    if (begin < reach) throw bad(`tensors ${reachName} and ${name} overlap`);
    reach = end;
    reachName = name;
  }
  return { tensors, metadata };
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

// __metadata__ is a flat string-to-string map in the format.
function readMetadata(raw: unknown, bad: (why: string) => Error): Record<string, string> {
  if (!isObject(raw)) throw bad("__metadata__ is not an object");
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") throw bad(`__metadata__ value ${k} is not a string`);
  }
  return raw as Record<string, string>;
}

export type SafetensorsDtype = "F32" | "F16" | "BF16";

/** Writes tensors (sorted by name) as F32, F16 or BF16 (rounded to nearest even), atomically: temp file, then rename. */
export function writeSafetensors(
  path: string,
  tensors: Map<string, NamedTensor>,
  metadata: Record<string, string> = {},
  dtype: SafetensorsDtype = "F32",
): void {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const size = dtype === "F32" ? 4 : 2;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new SafetensorsError(`tensor ${name}: shape [${t.shape}] does not match ${t.data.length} values`);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + size * count] };
    offset += size * count;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((8 + json.length) % 8)) % 8); // keep tensor data 8-byte aligned
  const headerBytes = Buffer.from(json, "utf8");
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const name of names) {
    const t = tensors.get(name)!;
    if (dtype === "F32") Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).copy(out, at);
    else for (let i = 0; i < t.data.length; i++) out.writeUInt16LE(dtype === "F16" ? f32ToF16(t.data[i]) : f32ToBf16(t.data[i]), at + 2 * i);
    at += size * t.data.length;
  }
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, out);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
