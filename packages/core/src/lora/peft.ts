// LoRA adapters in Hugging Face PEFT's on-disk format: a folder with
// adapter_config.json (peft_type "LORA", r, lora_alpha, target_modules, ...)
// and adapter_model.safetensors, whose keys look like
//   base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight  [r, in]
//   base_model.model.model.layers.{i}.self_attn.q_proj.lora_B.weight  [out, r]
// The adapted projection is W x + (lora_alpha / r) * B (A x).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FirstError } from "../errors.js";
import { readSafetensors, writeSafetensors, type NamedTensor, type SafetensorsDtype } from "../safetensors.js";

/** Our short module names and PEFT's (llama naming). */
export const LORA_MODULES = {
  q: "self_attn.q_proj",
  k: "self_attn.k_proj",
  v: "self_attn.v_proj",
  o: "self_attn.o_proj",
  gate: "mlp.gate_proj",
  up: "mlp.up_proj",
  down: "mlp.down_proj",
} as const;

export type LoraModule = keyof typeof LORA_MODULES;
export const LORA_MODULE_NAMES = Object.keys(LORA_MODULES) as LoraModule[];

/**
 * Fused projections some families use (Phi-3's qkv_proj and gate_up_proj):
 * one A shared by the parts and a B whose rows are the parts' outputs in
 * order, read as one adapter per part (the same product, split by rows).
 */
export const FUSED_LORA_MODULES: Record<string, LoraModule[]> = {
  "self_attn.qkv_proj": ["q", "k", "v"],
  "mlp.gate_up_proj": ["gate", "up"],
};

/** The model sizes that fix each projection's shape. */
export interface LoraModelShape {
  nLayers: number;
  dModel: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  ffnDim: number;
}

/** [in, out] of a projection. */
export function moduleDims(m: LoraModule, s: LoraModelShape): [number, number] {
  const q = s.nHeads * s.headDim, kv = s.nKvHeads * s.headDim;
  switch (m) {
    case "q": return [s.dModel, q];
    case "k": case "v": return [s.dModel, kv];
    case "o": return [q, s.dModel];
    case "gate": case "up": return [s.dModel, s.ffnDim];
    case "down": return [s.ffnDim, s.dModel];
  }
}

export interface LoraPair {
  layer: number;
  module: LoraModule;
  /** [rank x in], row-major. */
  a: Float32Array;
  /** [out x rank], row-major. */
  b: Float32Array;
}

export interface LoraAdapter {
  rank: number;
  alpha: number;
  /** alpha / rank (alpha / sqrt(rank) with rsLoRA). */
  scale: number;
  targets: LoraModule[];
  baseModel?: string;
  pairs: LoraPair[];
}

export class LoraLoadError extends FirstError {
  constructor(message: string) {
    super("MODEL_LOAD", message);
  }
}

export const peftKey = (layer: number, m: LoraModule, which: "A" | "B") =>
  `base_model.model.model.layers.${layer}.${LORA_MODULES[m]}.lora_${which}.weight`;

const KEY = /^base_model\.model\.model\.layers\.(\d+)\.([a-z_]+\.[a-z_]+)\.lora_([AB])(?:\.default)?\.weight$/;

/** Reads and validates a PEFT LoRA folder; checks shapes against the model when `shape` is given. */
export function readPeftAdapter(dir: string, shape?: LoraModelShape): LoraAdapter {
  const cfgPath = join(dir, "adapter_config.json");
  const stPath = join(dir, "adapter_model.safetensors");
  if (!existsSync(cfgPath)) throw new LoraLoadError(`${dir} is not a LoRA adapter: adapter_config.json is missing`);
  if (!existsSync(stPath))
    throw new LoraLoadError(`${dir} is not a LoRA adapter: adapter_model.safetensors is missing${existsSync(join(dir, "adapter_model.bin")) ? " (adapter_model.bin, a pickle, is not read; save with safe_serialization)" : ""}`);
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
  } catch (err) {
    throw new LoraLoadError(`${cfgPath} is not valid JSON: ${(err as Error).message}`);
  }
  const bad = (why: string) => new LoraLoadError(`${cfgPath}: ${why}`);
  if (typeof cfg !== "object" || cfg === null || Array.isArray(cfg)) throw bad("the document is not a JSON object");
  if (cfg.peft_type !== "LORA") throw bad(`peft_type is ${JSON.stringify(cfg.peft_type)}; only "LORA" adapters are supported`);
  const rank = cfg.r, alpha = cfg.lora_alpha;
  // JSON's 1e999 parses to Infinity, so finiteness is checked too.
  if (typeof rank !== "number" || !Number.isSafeInteger(rank) || rank <= 0) throw bad("r must be a positive integer");
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || !(alpha > 0)) throw bad("lora_alpha must be a positive number");
  for (const k of ["rank_pattern", "alpha_pattern"]) {
    const v = cfg[k];
    if (v && typeof v === "object" && Object.keys(v).length > 0) throw bad(`${k} (per-module ranks or alphas) is not supported`);
  }
  if (cfg.use_dora === true) throw bad("DoRA adapters (use_dora) are not supported");
  if (cfg.fan_in_fan_out === true) throw bad("fan_in_fan_out adapters (GPT-2 Conv1D layout) are not supported");
  // A PEFT module name -> the modules it adapts (one, or a fused one's parts).
  const byPeft = new Map<string, LoraModule[]>([
    ...Object.entries(LORA_MODULES).map(([k, v]): [string, LoraModule[]] => [v, [k as LoraModule]]),
    ...Object.entries(FUSED_LORA_MODULES),
  ]);
  const rawTargets: unknown[] = Array.isArray(cfg.target_modules) ? cfg.target_modules : typeof cfg.target_modules === "string" ? [cfg.target_modules] : [];
  const targets = new Set<LoraModule>();
  for (const t of rawTargets) {
    if (typeof t !== "string") throw bad(`target_modules holds ${JSON.stringify(t)}, not a module name`);
    const m = [...byPeft.entries()].find(([peft]) => peft.endsWith(`.${t}`) || peft === t)?.[1];
    if (!m) throw bad(`unknown target module "${t}" (supported: ${[...byPeft.keys()].map((v) => v.split(".")[1]).join(", ")})`);
    for (const x of m) targets.add(x);
  }

  const { tensors } = readSafetensors(stPath);
  const found = new Map<string, { layer: number; peft: string; parts: LoraModule[]; A?: NamedTensor; B?: NamedTensor }>();
  for (const [name, t] of tensors) {
    const m = KEY.exec(name);
    if (!m) throw new LoraLoadError(`${stPath}: unexpected tensor ${name} (expected base_model.model.model.layers.{i}.<module>.lora_A|lora_B.weight)`);
    const parts = byPeft.get(m[2]);
    if (!parts) throw new LoraLoadError(`${stPath}: tensor ${name} adapts an unknown module "${m[2]}"`);
    if (parts.length > 1 && !shape) throw new LoraLoadError(`${stPath}: tensor ${name} adapts the fused ${m[2]}, which is split by the model's shape (load it with a model)`);
    // "01" and "1" would name the same layer; a number past 2^53 is no layer at all.
    if ((m[1].length > 1 && m[1][0] === "0") || m[1].length > 9) throw new LoraLoadError(`${stPath}: tensor ${name} has layer number ${m[1]}`);
    const layer = Number(m[1]);
    if (shape && layer >= shape.nLayers) throw new LoraLoadError(`${stPath}: tensor ${name} is for layer ${layer}; the model has ${shape.nLayers} layers`);
    for (const x of parts) targets.add(x);
    const key = `${layer}.${m[2]}`;
    const entry = found.get(key) ?? { layer, peft: m[2], parts };
    if (parts.some((x) => [...found.values()].some((o) => o !== found.get(key) && o.layer === layer && o.parts.includes(x))))
      throw new LoraLoadError(`${stPath}: layer ${layer} adapts ${parts.join(", ")} both fused and on their own`);
    if (entry[m[3] as "A" | "B"]) throw new LoraLoadError(`${stPath}: layer ${layer} ${m[2]} has lora_${m[3]} twice (with and without .default)`);
    entry[m[3] as "A" | "B"] = t;
    found.set(key, entry);
  }
  if (found.size === 0) throw new LoraLoadError(`${stPath} holds no LoRA tensors`);

  const pairs: LoraPair[] = [];
  const order = (e: { layer: number; parts: LoraModule[] }) => e.layer * 16 + LORA_MODULE_NAMES.indexOf(e.parts[0]);
  for (const e of [...found.values()].sort((x, y) => order(x) - order(y))) {
    const where = `${stPath}: layer ${e.layer} ${e.peft}`;
    if (!e.A || !e.B) throw new LoraLoadError(`${where} has lora_${e.A ? "B" : "A"} missing`);
    if (e.A.shape.length !== 2 || e.B.shape.length !== 2) throw new LoraLoadError(`${where}: lora_A and lora_B must be matrices`);
    if (e.A.shape[1] === 0 || e.B.shape[0] === 0) throw new LoraLoadError(`${where}: lora_A is [${e.A.shape}] and lora_B [${e.B.shape}], an empty projection`);
    if (e.A.shape[0] !== rank || e.B.shape[1] !== rank)
      throw new LoraLoadError(`${where}: lora_A is [${e.A.shape}] and lora_B [${e.B.shape}], but r = ${rank}`);
    if (shape) {
      const inDim = moduleDims(e.parts[0], shape)[0];
      const outDim = e.parts.reduce((n, x) => n + moduleDims(x, shape)[1], 0);
      if (e.A.shape[1] !== inDim || e.B.shape[0] !== outDim)
        throw new LoraLoadError(`${where}: lora_A is [${e.A.shape}] and lora_B [${e.B.shape}]; this model needs [${rank},${inDim}] and [${outDim},${rank}]`);
    }
    // A fused B splits by rows: each part's output rows, in order, share A.
    let row = 0;
    for (const module of e.parts) {
      const out = e.parts.length === 1 ? e.B.shape[0] : moduleDims(module, shape!)[1];
      pairs.push({ layer: e.layer, module, a: e.A.data, b: e.B.data.subarray(row * rank, (row + out) * rank) });
      row += out;
    }
  }
  pairs.sort((x, y) => x.layer - y.layer || LORA_MODULE_NAMES.indexOf(x.module) - LORA_MODULE_NAMES.indexOf(y.module));
  const scale = cfg.use_rslora === true ? alpha / Math.sqrt(rank) : alpha / rank;
  return {
    rank,
    alpha,
    scale,
    targets: LORA_MODULE_NAMES.filter((m) => targets.has(m)),
    baseModel: typeof cfg.base_model_name_or_path === "string" ? cfg.base_model_name_or_path : undefined,
    pairs,
  };
}

/**
 * Writes a PEFT LoRA folder atomically (temp folder, then rename). Weights go
 * in F16 by default (half the bytes; the engine keeps f16 copies for decoding
 * anyway); "F32" keeps the trainer's values exactly.
 */
export function writePeftAdapter(dir: string, adapter: Omit<LoraAdapter, "scale">, shape: LoraModelShape, dtype: SafetensorsDtype = "F16"): void {
  const tensors = new Map<string, NamedTensor>();
  for (const p of adapter.pairs) {
    const [inDim, outDim] = moduleDims(p.module, shape);
    tensors.set(peftKey(p.layer, p.module, "A"), { shape: [adapter.rank, inDim], data: p.a });
    tensors.set(peftKey(p.layer, p.module, "B"), { shape: [outDim, adapter.rank], data: p.b });
  }
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: adapter.baseModel ?? null,
    r: adapter.rank,
    lora_alpha: adapter.alpha,
    lora_dropout: 0,
    bias: "none",
    fan_in_fan_out: false,
    use_rslora: false,
    use_dora: false,
    inference_mode: true,
    init_lora_weights: true,
    target_modules: adapter.targets.map((m) => LORA_MODULES[m].split(".")[1]),
    modules_to_save: null,
    layers_to_transform: null,
    rank_pattern: {},
    alpha_pattern: {},
  };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileSync(join(tmp, "adapter_config.json"), `${JSON.stringify(config, null, 2)}\n`);
    writeSafetensors(join(tmp, "adapter_model.safetensors"), tensors, { format: "pt" }, dtype);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
