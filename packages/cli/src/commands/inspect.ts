// `first inspect [model]`: what is inside a GGUF file, without loading weights.
import { statSync } from "node:fs";
import { readGguf, resolveModelPath } from "@first/core";
import { defineCommand } from "../command.js";
import { formatBytes } from "../progress.js";

type GgufInfo = ReturnType<typeof readGguf>;
type TensorInfo = GgufInfo["tensors"][number];

/** Arrays longer than this (token lists, scores, merges) are shown by length only. */
const MAX_ARRAY_SHOWN = 64;
/** Strings longer than this (chat templates) are cut in the text view. */
const MAX_STRING_SHOWN = 160;

export const inspectCommand = defineCommand({
  name: "inspect",
  summary: "Show a model's metadata, architecture and tensors (GGUF or a Hugging Face checkpoint)",
  description:
    "The model is a .gguf path, a Hugging Face checkpoint folder (config.json + safetensors), a known\nmodel name or an hf: source that has been pulled (default: smollm2-135m-instruct). Only headers\nare read; weights stay on disk. A checkpoint is shown with the GGUF keys and tensor names it is\nread with.",
  positionals: [{ name: "model", help: "model path (.gguf or checkpoint folder), name or hf: source (default: smollm2-135m-instruct)" }],
  flags: {
    json: { type: "boolean", help: "print everything as one JSON object" },
    tensors: { type: "boolean", help: "list every tensor (name, type, shape, bytes)" },
  },
  examples: ["first inspect", "first inspect ./model.gguf --tensors", "first inspect ./Qwen3-0.6B/", "first inspect --json"],
  async run({ flags, positionals }) {
    const path = await resolveModelPath(positionals[0]);
    const report = describeGguf(path, readGguf(path), flags.tensors);
    process.stdout.write(flags.json ? `${JSON.stringify(report, jsonSafe, 2)}\n` : formatReport(report));
    return 0;
  },
});

interface Architecture {
  name?: string;
  layers?: number;
  hiddenSize?: number;
  ffnSize?: number;
  heads?: number;
  kvHeads?: number;
  headDim?: number;
  contextLength?: number;
  vocabSize?: number;
  ropeBase?: number;
  ropeDims?: number;
  rmsEps?: number;
}

interface TypeSummary {
  type: string;
  count: number;
  bytes: number;
}

interface Report {
  path: string;
  /** "gguf", or "safetensors" for a Hugging Face checkpoint folder (read in place with GGUF's keys and names). */
  format: "gguf" | "safetensors";
  fileSize: number;
  version: number;
  alignment: number;
  name?: string;
  architecture: Architecture;
  parameters: number;
  tensorCount: number;
  tensorBytes: number;
  tensorTypes: TypeSummary[];
  metadata: Record<string, unknown>;
  tensors?: TensorInfo[];
}

/** Stand-in for an array too long to show. */
interface LongArray {
  arrayLength: number;
  elementType: string;
}

function describeGguf(path: string, info: GgufInfo, withTensors: boolean): Report {
  const md = info.metadata;
  const arch = typeof md["general.architecture"] === "string" ? md["general.architecture"] : undefined;
  const num = (key: string): number | undefined => {
    const v = md[key];
    return typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : undefined;
  };
  const a = (key: string) => (arch === undefined ? undefined : num(`${arch}.${key}`));

  const tokens = md["tokenizer.ggml.tokens"];
  const heads = a("attention.head_count");
  const hiddenSize = a("embedding_length");
  const architecture: Architecture = {
    name: arch,
    layers: a("block_count"),
    hiddenSize,
    ffnSize: a("feed_forward_length"),
    heads,
    kvHeads: a("attention.head_count_kv") ?? heads,
    headDim: a("attention.key_length") ?? (heads && hiddenSize ? hiddenSize / heads : undefined),
    contextLength: a("context_length"),
    vocabSize: a("vocab_size") ?? (Array.isArray(tokens) ? tokens.length : undefined),
    ropeBase: a("rope.freq_base"),
    ropeDims: a("rope.dimension_count"),
    rmsEps: a("attention.layer_norm_rms_epsilon"),
  };

  const byType = new Map<string, TypeSummary>();
  let parameters = 0;
  let tensorBytes = 0;
  for (const t of info.tensors) {
    const s = byType.get(t.type) ?? { type: t.type, count: 0, bytes: 0 };
    s.count++;
    s.bytes += t.nBytes;
    byType.set(t.type, s);
    parameters += t.shape.reduce((p, d) => p * d, 1);
    tensorBytes += t.nBytes;
  }

  const metadata: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(md)) {
    metadata[key] =
      Array.isArray(value) && value.length > MAX_ARRAY_SHOWN
        ? ({ arrayLength: value.length, elementType: value.length > 0 ? typeof value[0] : "unknown" } satisfies LongArray)
        : value;
  }

  return {
    path,
    format: statSync(path).isDirectory() ? "safetensors" : "gguf",
    fileSize: info.fileSize,
    version: info.version,
    alignment: info.alignment,
    name: typeof md["general.name"] === "string" ? md["general.name"] : undefined,
    architecture,
    parameters,
    tensorCount: info.tensors.length,
    tensorBytes,
    tensorTypes: [...byType.values()].sort((x, y) => y.bytes - x.bytes),
    metadata,
    tensors: withTensors ? info.tensors : undefined,
  };
}

function formatReport(r: Report): string {
  const out: string[] = [];
  const rows = (pairs: [string, string | undefined][]) => {
    const shown = pairs.filter((p): p is [string, string] => p[1] !== undefined);
    const width = Math.max(...shown.map(([k]) => k.length));
    for (const [k, v] of shown) out.push(`  ${k.padEnd(width)}  ${v}`);
  };
  const str = (v: number | undefined) => (v === undefined ? undefined : showNumber(v));

  out.push(`${r.path}`);
  rows([
    ["name", r.name],
    ...(r.format === "gguf"
      ? ([
          ["file size", `${formatBytes(r.fileSize)} (${r.fileSize} bytes)`],
          ["gguf version", String(r.version)],
          ["alignment", String(r.alignment)],
        ] as Array<[string, string]>)
      : ([
          ["format", "Hugging Face checkpoint (config.json + safetensors), keys and names as GGUF's"],
          ["weights", `${formatBytes(r.fileSize)} (${r.fileSize} bytes)`],
        ] as Array<[string, string]>)),
  ]);

  const arch = r.architecture;
  out.push("", "Architecture:");
  rows([
    ["architecture", arch.name],
    ["layers", str(arch.layers)],
    ["hidden size", str(arch.hiddenSize)],
    ["ffn size", str(arch.ffnSize)],
    ["heads", str(arch.heads)],
    ["kv heads", str(arch.kvHeads)],
    ["head dim", str(arch.headDim)],
    ["context", str(arch.contextLength)],
    ["vocab", str(arch.vocabSize)],
    ["rope base", str(arch.ropeBase)],
    ["rope dims", str(arch.ropeDims)],
    ["rms eps", str(arch.rmsEps)],
    ["parameters", `${(r.parameters / 1e6).toFixed(1)}M`],
  ]);

  out.push("", `Tensors: ${r.tensorCount}, ${formatBytes(r.tensorBytes)}`);
  rows(r.tensorTypes.map((t) => [t.type, `${String(t.count).padStart(4)} tensor${t.count === 1 ? " " : "s"}  ${formatBytes(t.bytes).padStart(9)}`]));

  out.push("", "Metadata:");
  rows(Object.entries(r.metadata).map(([k, v]) => [k, showValue(v)]));

  if (r.tensors !== undefined) {
    out.push("", "Tensor list:");
    const width = Math.max(...r.tensors.map((t) => t.name.length));
    for (const t of r.tensors) {
      out.push(`  ${t.name.padEnd(width)}  ${t.type.padEnd(6)}  ${`[${t.shape.join(", ")}]`.padEnd(14)}  ${formatBytes(t.nBytes).padStart(9)}`);
    }
  }
  return `${out.join("\n")}\n`;
}

function showValue(v: unknown): string {
  if (isLongArray(v)) return `[${v.arrayLength} ${v.elementType}s]`;
  if (typeof v === "string") {
    const oneLine = JSON.stringify(v);
    return oneLine.length > MAX_STRING_SHOWN ? `${oneLine.slice(0, MAX_STRING_SHOWN)}… (${v.length} chars)` : oneLine;
  }
  if (typeof v === "number") return showNumber(v);
  return JSON.stringify(v, jsonSafe) ?? String(v);
}

/** GGUF floats are float32: 7 significant digits show them without noise (1e-5, not 0.0000099999997). */
function showNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(7)));
}

function isLongArray(v: unknown): v is LongArray {
  return typeof v === "object" && v !== null && "arrayLength" in v && "elementType" in v && !Array.isArray(v);
}

/** JSON has no bigint: write integers beyond 2^53 as strings. */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}
