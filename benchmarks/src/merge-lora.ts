// What merging a LoRA adapter into the quantized weights would keep: for each
// adapted projection, W' = Q4_1(dequant(W) + scale * B A), and the delta the
// merge actually realizes, Q(W + Δ) - W, against the intended Δ (relative
// error and cosine). Re-quantizing to the weight's own 4-bit type rounds
// every weight to its block's grid, so a Δ smaller than the grid step mostly
// vanishes; this measures how much.
//
//   node benchmarks/dist/merge-lora.js [--model M] [--lora DIR] [--layers 0,14,28] [--out benchmarks/results]
import { closeSync, openSync, readSync } from "node:fs";
import {
  dequantizeTensor as dequantize,
  loraShapeFromConfig,
  readModelConfig,
  quantizeTensor as quantize,
  readGguf,
  readPeftAdapter,
  shippedSetFor,
  type GgufTensorType,
} from "@first/core";
import { fail, intListOption, parseOptions } from "./cli.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { DEFAULT_RESULTS_DIR, table, writeResults } from "./results.js";

const USAGE = "usage: node benchmarks/dist/merge-lora.js [--model M] [--lora DIR] [--layers 0,14,28] [--out benchmarks/results]";
const args = parseOptions({ model: { type: "string" }, lora: { type: "string" }, layers: { type: "string" }, out: { type: "string" } }, USAGE);
const modelPath = await benchmarkModel(args.model);
const loraDir = args.lora ?? (await shippedSetFor(modelPath))?.loraDir;
if (!loraDir) fail("no adapter: give --lora DIR");
const info = readGguf(modelPath);
const adapter = readPeftAdapter(loraDir, loraShapeFromConfig(readModelConfig(modelPath)));
const layers = intListOption("layers", args.layers, [0, 14, 28]);
// Tensor offsets are relative to the data section, which ends the file (GGUF pads only before it).
const end = Math.max(...info.tensors.map((t) => t.offset + t.nBytes));
const dataStart = info.fileSize - end;
if (dataStart % info.alignment !== 0) fail("cannot locate the tensor data section");
const NAMES: Record<string, string> = { q: "attn_q", k: "attn_k", v: "attn_v", o: "attn_output", gate: "ffn_gate", up: "ffn_up", down: "ffn_down" };
const fd = openSync(modelPath, "r");
const rows: Record<string, unknown>[] = [];
for (const pair of adapter.pairs) {
  if (!layers.includes(pair.layer)) continue;
  const t = info.tensors.find((x) => x.name === `blk.${pair.layer}.${NAMES[pair.module]}.weight`);
  if (!t) fail(`no tensor for layer ${pair.layer} ${pair.module}`);
  const [cols, out] = t.shape;
  const bytes = new Uint8Array(t.nBytes);
  readSync(fd, bytes, 0, t.nBytes, dataStart + t.offset);
  const w = dequantize(t.type as GgufTensorType, bytes, cols * out);
  const delta = new Float32Array(w.length);
  for (let o = 0; o < out; o++)
    for (let k = 0; k < adapter.rank; k++) {
      const b = adapter.scale * pair.b[o * adapter.rank + k];
      for (let i = 0; i < cols; i++) delta[o * cols + i] += b * pair.a[k * cols + i];
    }
  const merged = dequantize(t.type as GgufTensorType, quantize(t.type as GgufTensorType, w.map((x: number, i: number) => x + delta[i])), w.length);
  // Re-quantizing W alone: the noise a merge adds whatever Δ is.
  const again = dequantize(t.type as GgufTensorType, quantize(t.type as GgufTensorType, w), w.length);
  let dd = 0, ww = 0, rr = 0, err = 0, dot = 0, changed = 0, noise = 0;
  for (let i = 0; i < w.length; i++) {
    const real = merged[i] - w[i];
    dd += delta[i] ** 2;
    ww += w[i] ** 2;
    rr += real ** 2;
    err += (real - delta[i]) ** 2;
    dot += real * delta[i];
    if (merged[i] !== w[i]) changed++;
    noise += (again[i] - w[i]) ** 2;
  }
  rows.push({
    layer: pair.layer, module: pair.module, type: t.type,
    deltaOverWeight: Math.sqrt(dd / ww),
    mergedDeltaError: Math.sqrt(err / dd),
    cosine: dot / Math.sqrt(dd * rr || 1),
    weightsChanged: changed / w.length,
    requantNoiseOverDelta: Math.sqrt(noise / dd),
  });
}
closeSync(fd);
const f = (x: unknown) => (x as number).toFixed(3);
console.log(table(["layer", "module", "type", "|Δ|/|W|", "merge error |Q(W+Δ)-W-Δ|/|Δ|", "cos(realized, Δ)", "weights changed", "|Q(W)-W|/|Δ|"],
  rows.map((r) => [String(r.layer), String(r.module), String(r.type), f(r.deltaOverWeight), f(r.mergedDeltaError), f(r.cosine), f(r.weightsChanged), f(r.requantNoiseOverDelta)]), 3));
const paths = writeResults(args.out ?? DEFAULT_RESULTS_DIR, "merge-lora", {
  benchmark: "LoRA merged into the quantized weights: the delta re-quantization keeps",
  date: new Date().toISOString(), machine: describeMachine(), model: modelPath, lora: loraDir, rank: adapter.rank, rows,
});
console.log(`\nwrote ${paths.join(", ")}`);
