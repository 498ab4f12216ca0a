// Router checkpoints: a folder with router.json (what the routers are for
// and how they are built) and routers.safetensors (their weights).
// The format is documented in docs/router-format.md.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FirstError, InvalidOptionError } from "../errors.js";
import { readSafetensors, writeSafetensors, type NamedTensor } from "../safetensors.js";
import type { ModelIdentity } from "./model-identity.js";
import type { RouterSetData, RouterWeights } from "./router-set.js";

export const ROUTER_FORMAT = "first-routers";
export const ROUTER_FORMAT_VERSION = 1;

export interface RouterJson {
  format: typeof ROUTER_FORMAT;
  version: number;
  baseModel: ModelIdentity & { name?: string };
  router: { kind: "linear" | "mlp"; hidden: number; normEps: number; input: "mean-prompt-hidden" };
  exempt: number[];
  threshold: number;
  /** The layer budget for requests that run the routers without an adapter (docs/router-format.md). */
  withoutAdapter?: { layerBudget: number; note?: string };
  training?: Record<string, unknown>;
}

export class RouterLoadError extends FirstError {
  constructor(message: string) {
    super("MODEL_LOAD", message);
  }
}

/** Loads and validates a router folder; checks it against the base model when `model` is given. */
export function loadRouters(dir: string, model?: ModelIdentity): { data: RouterSetData; json: RouterJson } {
  const jsonPath = join(dir, "router.json");
  const stPath = join(dir, "routers.safetensors");
  if (!existsSync(jsonPath)) throw new RouterLoadError(`${dir} is not a router checkpoint: router.json is missing`);
  if (!existsSync(stPath)) throw new RouterLoadError(`${dir} is not a router checkpoint: routers.safetensors is missing`);
  let json: RouterJson;
  try {
    json = JSON.parse(readFileSync(jsonPath, "utf8"));
  } catch (err) {
    throw new RouterLoadError(`${jsonPath} is not valid JSON: ${(err as Error).message}`);
  }
  const bad = (why: string) => new RouterLoadError(`${jsonPath}: ${why}`);
  if (!isObject(json)) throw bad("the document is not a JSON object");
  if (json.format !== ROUTER_FORMAT) throw bad(`format must be "${ROUTER_FORMAT}"`);
  if (json.version !== ROUTER_FORMAT_VERSION) throw bad(`unsupported version ${json.version} (this build reads ${ROUTER_FORMAT_VERSION})`);
  const b = json.baseModel;
  if (!isObject(b) || typeof b.architecture !== "string" || typeof b.sha256 !== "string" ||
      !Number.isSafeInteger(b.nLayers) || !Number.isSafeInteger(b.dModel) || b.nLayers <= 0 || b.dModel <= 0)
    throw bad("baseModel must give architecture, nLayers, dModel and sha256");
  const r = json.router;
  if (!isObject(r) || (r.kind !== "linear" && r.kind !== "mlp")) throw bad('router.kind must be "linear" or "mlp"');
  if (r.kind === "mlp" && !(Number.isSafeInteger(r.hidden) && r.hidden > 0)) throw bad("router.hidden must be a positive integer");
  if (r.normEps !== undefined && !(typeof r.normEps === "number" && Number.isFinite(r.normEps) && r.normEps > 0))
    throw bad("router.normEps must be a positive number");
  if (r.input !== undefined && r.input !== "mean-prompt-hidden") throw bad('router.input must be "mean-prompt-hidden"');
  if (!Array.isArray(json.exempt) || json.exempt.some((l) => !Number.isInteger(l) || l < 0 || l >= b.nLayers))
    throw bad(`exempt must list layers in 0..${b.nLayers - 1}`);
  if (!(typeof json.threshold === "number" && json.threshold >= 0 && json.threshold <= 1)) throw bad("threshold must be in [0, 1]");
  const exempt = new Set(json.exempt);
  const w = json.withoutAdapter;
  // The exempt layers always run, so no budget can be below their count.
  if (w !== undefined && (!isObject(w) || !Number.isSafeInteger(w.layerBudget) || w.layerBudget < exempt.size || w.layerBudget > b.nLayers))
    throw bad(`withoutAdapter.layerBudget must be an integer in ${exempt.size}..${b.nLayers}`);

  if (model) {
    const mismatch: string[] = [];
    if (b.architecture !== model.architecture) mismatch.push(`architecture ${b.architecture} vs ${model.architecture}`);
    if (b.nLayers !== model.nLayers) mismatch.push(`${b.nLayers} layers vs ${model.nLayers}`);
    if (b.dModel !== model.dModel) mismatch.push(`hidden size ${b.dModel} vs ${model.dModel}`);
    if (b.sha256 !== model.sha256) mismatch.push(`weights sha256 ${short(b.sha256)} vs ${short(model.sha256)}`);
    if (mismatch.length > 0)
      throw new RouterLoadError(`routers in ${dir} were trained for another base model (${mismatch.join("; ")})`);
  }

  const { tensors } = readSafetensors(stPath);
  const d = b.dModel, h = r.hidden;
  const take = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new RouterLoadError(`${stPath}: tensor ${name} is missing`);
    if (t.shape.join(",") !== shape.join(","))
      throw new RouterLoadError(`${stPath}: tensor ${name} has shape [${t.shape}], expected [${shape}]`);
    return t.data;
  };
  const layers: (RouterWeights | null)[] = [];
  for (let l = 0; l < b.nLayers; l++) {
    if (exempt.has(l)) {
      layers.push(null);
      continue;
    }
    const p = `layers.${l}.`;
    layers.push(
      r.kind === "linear"
        ? { fcWeight: take(p + "fc.weight", [1, d]), fcBias: take(p + "fc.bias", [1])[0] }
        : {
            normWeight: take(p + "norm.weight", [d]),
            fc1Weight: take(p + "fc1.weight", [h, d]),
            fc1Bias: take(p + "fc1.bias", [h]),
            fc2Weight: take(p + "fc2.weight", [1, h]),
            fc2Bias: take(p + "fc2.bias", [1])[0],
          },
    );
  }
  const data: RouterSetData = {
    config: { kind: r.kind, dModel: d, hidden: r.kind === "mlp" ? h : 0, nLayers: b.nLayers, exempt: [...exempt].sort((x, y) => x - y), threshold: json.threshold, normEps: r.normEps ?? 1e-5,
      ...(w !== undefined ? { layerBudgetWithoutAdapter: w.layerBudget } : {}) },
    layers,
  };
  return { data, json };
}

/** Writes a router folder atomically (a temp folder renamed into place). */
export function saveRouters(dir: string, data: RouterSetData, base: ModelIdentity & { name?: string }, training?: Record<string, unknown>): void {
  const c = data.config;
  const tensors = new Map<string, NamedTensor>();
  data.layers.forEach((w, l) => {
    if (!w) return;
    const p = `layers.${l}.`;
    if (c.kind === "linear") {
      tensors.set(p + "fc.weight", { shape: [1, c.dModel], data: w.fcWeight! });
      tensors.set(p + "fc.bias", { shape: [1], data: Float32Array.of(w.fcBias ?? 0) });
    } else {
      tensors.set(p + "norm.weight", { shape: [c.dModel], data: w.normWeight! });
      tensors.set(p + "fc1.weight", { shape: [c.hidden, c.dModel], data: w.fc1Weight! });
      tensors.set(p + "fc1.bias", { shape: [c.hidden], data: w.fc1Bias! });
      tensors.set(p + "fc2.weight", { shape: [1, c.hidden], data: w.fc2Weight! });
      tensors.set(p + "fc2.bias", { shape: [1], data: Float32Array.of(w.fc2Bias ?? 0) });
    }
  });
  const json: RouterJson = {
    format: ROUTER_FORMAT,
    version: ROUTER_FORMAT_VERSION,
    baseModel: base,
    router: { kind: c.kind, hidden: c.hidden, normEps: c.normEps, input: "mean-prompt-hidden" },
    exempt: c.exempt,
    threshold: c.threshold,
    ...(c.layerBudgetWithoutAdapter !== undefined ? { withoutAdapter: { layerBudget: c.layerBudgetWithoutAdapter } } : {}),
    ...(training ? { training } : {}),
  };
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeFileSync(join(tmp, "router.json"), `${JSON.stringify(json, null, 2)}\n`);
    writeSafetensors(join(tmp, "routers.safetensors"), tensors);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Checks a threshold given by a caller. */
export function checkThreshold(t: number | undefined): void {
  if (t === undefined) return;
  if (typeof t !== "number" || !(t >= 0 && t <= 1)) throw new InvalidOptionError("threshold", `must be in [0, 1], got ${t}`);
}

const short = (s: string | undefined) => (s ? s.slice(0, 12) : "none");

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
