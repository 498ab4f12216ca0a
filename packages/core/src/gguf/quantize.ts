// Tensor encodings for GGUF files, byte for byte as ggml lays them out.
// Arithmetic goes through Math.fround so each step is rounded to float32 as
// ggml's reference C code does; the bytes then match llama.cpp's own quantizer.

export type GgufTensorType = "F32" | "F16" | "BF16" | "Q8_0" | "Q4_0" | "Q4_1";

/** ggml_type ids as written in GGUF tensor infos. */
export const GGML_TYPE_ID: Record<GgufTensorType, number> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q8_0: 8,
  BF16: 30,
};

/** Elements per block and bytes per block of each type. */
export const BLOCK_LAYOUT: Record<GgufTensorType, { blockSize: number; blockBytes: number }> = {
  F32: { blockSize: 1, blockBytes: 4 },
  F16: { blockSize: 1, blockBytes: 2 },
  BF16: { blockSize: 1, blockBytes: 2 },
  Q8_0: { blockSize: 32, blockBytes: 34 },
  Q4_0: { blockSize: 32, blockBytes: 18 },
  Q4_1: { blockSize: 32, blockBytes: 20 },
};

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 -> IEEE half, round to nearest even; overflow gives ±inf, NaN stays NaN. */
export function f32ToF16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit 1 into place.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1))) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h += 1; // may carry into the exponent, as it should
  return sign | h;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** float32 -> bfloat16, round to nearest even; NaN stays a quiet NaN (as ggml). */
export function f32ToBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 64) & 0xffff;
  return ((bits + (0x7fff + ((bits >>> 16) & 1))) >>> 16) & 0xffff;
}

export function bf16ToF32(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

// C roundf: halves go away from zero (Math.round sends -2.5 to -2).
function roundf(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

const fr = Math.fround;

/** Encodes n = data.length values (a multiple of the block size) as `type`. */
export function quantize(type: GgufTensorType, data: Float32Array): Uint8Array {
  const { blockSize, blockBytes } = BLOCK_LAYOUT[type];
  if (data.length % blockSize !== 0) {
    throw new Error(`${type} needs a multiple of ${blockSize} values, got ${data.length}`);
  }
  const out = new Uint8Array((data.length / blockSize) * blockBytes);
  const view = new DataView(out.buffer);
  switch (type) {
    case "F32":
      for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
      break;
    case "F16":
      for (let i = 0; i < data.length; i++) view.setUint16(i * 2, f32ToF16(data[i]), true);
      break;
    case "BF16":
      for (let i = 0; i < data.length; i++) view.setUint16(i * 2, f32ToBf16(data[i]), true);
      break;
    case "Q8_0":
      for (let b = 0; b < data.length / 32; b++) quantizeQ8_0Block(data, b * 32, view, b * 34);
      break;
    case "Q4_0":
      for (let b = 0; b < data.length / 32; b++) quantizeQ4_0Block(data, b * 32, view, b * 18);
      break;
    case "Q4_1":
      for (let b = 0; b < data.length / 32; b++) quantizeQ4_1Block(data, b * 32, view, b * 20);
      break;
  }
  return out;
}

// Q8_0: f16 scale d = amax / 127, then 32 int8 values round(x / d).
function quantizeQ8_0Block(x: Float32Array, at: number, out: DataView, o: number): void {
  let amax = 0;
  for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[at + j]));
  const d = fr(amax / 127);
  const id = d ? fr(1 / d) : 0;
  out.setUint16(o, f32ToF16(d), true);
  for (let j = 0; j < 32; j++) out.setInt8(o + 2 + j, roundf(fr(x[at + j] * id)));
}

// Q4_0: d = (value of largest magnitude) / -8, nibble = min(15, trunc(x / d + 8.5)).
// Byte j holds element j in its low nibble and element j + 16 in its high nibble.
function quantizeQ4_0Block(x: Float32Array, at: number, out: DataView, o: number): void {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[at + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  const d = fr(max / -8);
  const id = d ? fr(1 / d) : 0;
  out.setUint16(o, f32ToF16(d), true);
  for (let j = 0; j < 16; j++) {
    const lo = Math.min(15, Math.trunc(fr(fr(x[at + j] * id) + 8.5)));
    const hi = Math.min(15, Math.trunc(fr(fr(x[at + j + 16] * id) + 8.5)));
    out.setUint8(o + 2 + j, lo | (hi << 4));
  }
}

// Q4_1: d = (max - min) / 15, m = min, nibble = min(15, trunc((x - m) / d + 0.5)).
function quantizeQ4_1Block(x: Float32Array, at: number, out: DataView, o: number): void {
  let min = Infinity;
  let max = -Infinity;
  for (let j = 0; j < 32; j++) {
    min = Math.min(min, x[at + j]);
    max = Math.max(max, x[at + j]);
  }
  const d = fr(fr(max - min) / 15);
  const id = d ? fr(1 / d) : 0;
  out.setUint16(o, f32ToF16(d), true);
  out.setUint16(o + 2, f32ToF16(min), true);
  for (let j = 0; j < 16; j++) {
    const lo = Math.min(15, Math.trunc(fr(fr(fr(x[at + j] - min) * id) + 0.5)));
    const hi = Math.min(15, Math.trunc(fr(fr(fr(x[at + j + 16] - min) * id) + 0.5)));
    out.setUint8(o + 2 + 2 + j, lo | (hi << 4));
  }
}

/** Decodes `n` values of `type` (used by tests and tools that check written files). */
export function dequantize(type: GgufTensorType, bytes: Uint8Array, n: number): Float32Array {
  const { blockSize, blockBytes } = BLOCK_LAYOUT[type];
  if (n % blockSize !== 0 || bytes.length < (n / blockSize) * blockBytes) {
    throw new Error(`${type}: ${bytes.length} bytes do not hold ${n} values`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  for (let b = 0; b < n / blockSize; b++) {
    const o = b * blockBytes;
    const at = b * blockSize;
    switch (type) {
      case "F32":
        out[at] = view.getFloat32(o, true);
        break;
      case "F16":
        out[at] = f16ToF32(view.getUint16(o, true));
        break;
      case "BF16":
        out[at] = bf16ToF32(view.getUint16(o, true));
        break;
      case "Q8_0": {
        const d = f16ToF32(view.getUint16(o, true));
        for (let j = 0; j < 32; j++) out[at + j] = d * view.getInt8(o + 2 + j);
        break;
      }
      case "Q4_0": {
        const d = f16ToF32(view.getUint16(o, true));
        for (let j = 0; j < 16; j++) {
          const q = view.getUint8(o + 2 + j);
          out[at + j] = d * ((q & 15) - 8);
          out[at + j + 16] = d * ((q >> 4) - 8);
        }
        break;
      }
      case "Q4_1": {
        const d = f16ToF32(view.getUint16(o, true));
        const m = f16ToF32(view.getUint16(o + 2, true));
        for (let j = 0; j < 16; j++) {
          const q = view.getUint8(o + 4 + j);
          out[at + j] = d * (q & 15) + m;
          out[at + j + 16] = d * (q >> 4) + m;
        }
        break;
      }
    }
  }
  return out;
}
