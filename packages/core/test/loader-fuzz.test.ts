// Mutation fuzzing of the TypeScript loaders (safetensors, router checkpoints,
// PEFT adapters). Each mutant of a small valid seed must either load into a
// result that passes the same checks as a good file, or throw the loader's
// FirstError; any other exception (a TypeError from a null, a RangeError from
// a huge buffer) or a result that breaks its own shapes fails the test.
// The inputs are deterministic and not coverage-guided (see native/fuzz/README.md).
// FIRST_FUZZ_ITERATIONS sets the mutants per loader (default 1500) and
// FIRST_FUZZ_SEED the PRNG seed (default 1), for longer or different runs.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FirstError } from "../src/errors.js";
import { readPeftAdapter, writePeftAdapter, moduleDims, type LoraAdapter, type LoraModelShape } from "../src/lora/peft.js";
import { loadRouters, saveRouters } from "../src/routers/checkpoint.js";
import type { RouterSetData } from "../src/routers/router-set.js";
import { readSafetensors, writeSafetensors, type NamedTensor } from "../src/safetensors.js";
import { makeRng, mutate, type FileKind } from "./support/mutate.js";

const ITERATIONS = Number(process.env.FIRST_FUZZ_ITERATIONS ?? 1500);
const SEED = Number(process.env.FIRST_FUZZ_SEED ?? 1);
const root = mkdtempSync(join(tmpdir(), "first-loader-fuzz-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const values = (n: number, k = 1) => Float32Array.from({ length: n }, (_, i) => ((i * 7 + k) % 13) / 13 - 0.5);
const product = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** A folder of files; `kinds` says how each file is mutated. */
interface Seed {
  files: Map<string, Uint8Array>;
}
type Kinds = Record<string, FileKind>;

function readFolder(dir: string, names: string[]): Seed {
  return { files: new Map(names.map((n) => [n, new Uint8Array(readFileSync(join(dir, n)))])) };
}

// Shapes of a loaded safetensors file agree with its data.
function checkTensors(tensors: Map<string, NamedTensor>): void {
  for (const [name, t] of tensors) {
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`accepted ${name} with shape [${t.shape}]`);
    if (t.data.length !== product(t.shape)) throw new Error(`accepted ${name}: ${t.data.length} values for [${t.shape}]`);
  }
}

interface Target {
  name: string;
  kinds: Kinds;
  seeds: Seed[];
  /** Loads the folder and checks the result; throws on a broken result. */
  load: (dir: string) => void;
  /** The loader's own error class. */
  errorClass: typeof FirstError;
}

interface FuzzReport {
  inputs: number;
  accepted: number;
  refused: number;
  failures: string[];
}

// Runs `iterations` mutants of the target's seeds, each in a fresh write of its folder.
async function fuzz(target: Target, iterations: number, seed = 1): Promise<FuzzReport> {
  const rng = makeRng(seed);
  const dir = join(root, target.name);
  mkdirSync(dir, { recursive: true });
  const report: FuzzReport = { inputs: 0, accepted: 0, refused: 0, failures: [] };
  const partners = new Map<string, Uint8Array[]>();
  for (const s of target.seeds) for (const [n, b] of s.files) partners.set(n, [...(partners.get(n) ?? []), b]);
  for (let i = 0; i < iterations; i++) {
    // Yield now and then: a long run must not starve vitest's worker of its event loop.
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
    const base = target.seeds[Math.floor(rng() * target.seeds.length)];
    const names = [...base.files.keys()];
    const victim = names[Math.floor(rng() * names.length)];
    for (const n of names) {
      const bytes = n === victim ? mutate(rng, base.files.get(n)!, target.kinds[n], partners.get(n)) : base.files.get(n)!;
      writeFileSync(join(dir, n), bytes);
    }
    report.inputs++;
    const started = Date.now();
    try {
      target.load(dir);
      report.accepted++;
    } catch (err) {
      if (err instanceof target.errorClass) report.refused++;
      else {
        const saved = join(root, `${target.name}-failure-${i}`);
        mkdirSync(saved, { recursive: true });
        for (const n of names) writeFileSync(join(saved, n), readFileSync(join(dir, n)));
        const where = (err as Error)?.stack?.split("\n").slice(0, 3).join(" | ") ?? String(err);
        report.failures.push(`input ${i} (${victim} mutated, kept in ${saved}): ${where}`);
        if (report.failures.length >= 5) break;
      }
    }
    if (Date.now() - started > 2000) report.failures.push(`input ${i} took ${Date.now() - started} ms`);
  }
  return report;
}

// --- seeds ---------------------------------------------------------------

function safetensorsSeeds(): Seed[] {
  const dir = join(root, "seeds-safetensors");
  mkdirSync(dir, { recursive: true });
  const one = (name: string, tensors: Map<string, NamedTensor>, meta: Record<string, string>, dtype: "F32" | "F16" | "BF16") => {
    writeSafetensors(join(dir, name), tensors, meta, dtype);
    return { files: new Map([["model.safetensors", new Uint8Array(readFileSync(join(dir, name)))]]) };
  };
  const t = (shape: number[], k: number): NamedTensor => ({ shape, data: values(product(shape), k) });
  return [
    one("f32.safetensors", new Map([["a", t([2, 3], 1)], ["b", t([4], 2)], ["s", t([], 3)]]), { format: "pt" }, "F32"),
    one("f16.safetensors", new Map([["w", t([3, 2], 4)], ["empty", t([0, 5], 5)]]), {}, "F16"),
    one("bf16.safetensors", new Map([["x.weight", t([1, 1, 2], 6)]]), { note: "seed" }, "BF16"),
  ];
}

const safetensorsTarget = (): Target => ({
  name: "safetensors",
  kinds: { "model.safetensors": "safetensors" },
  seeds: safetensorsSeeds(),
  errorClass: FirstError,
  load: (dir) => {
    const { tensors, metadata } = readSafetensors(join(dir, "model.safetensors"));
    checkTensors(tensors);
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== "string") throw new Error(`accepted metadata ${k} = ${JSON.stringify(v)}`);
  },
});

function routerSeeds(): Seed[] {
  const d = 4, nLayers = 4;
  const base = { architecture: "llama", nLayers, dModel: d, sha256: "ab".repeat(32) };
  const linear: RouterSetData = {
    config: { kind: "linear", dModel: d, hidden: 0, nLayers, exempt: [0, 3], threshold: 0.5, normEps: 1e-5 },
    layers: [null, { fcWeight: values(d, 1), fcBias: 0.1 }, { fcWeight: values(d, 2), fcBias: -0.2 }, null],
  };
  const h = 3;
  const mlpLayer = (k: number) => ({ normWeight: values(d, k), fc1Weight: values(h * d, k + 1), fc1Bias: values(h, k + 2), fc2Weight: values(h, k + 3), fc2Bias: 0.5 });
  const mlp: RouterSetData = {
    config: { kind: "mlp", dModel: d, hidden: h, nLayers, exempt: [0], threshold: 0.25, normEps: 1e-6 },
    layers: [null, mlpLayer(1), mlpLayer(2), mlpLayer(3)],
  };
  return [linear, mlp].map((data, i) => {
    const dir = join(root, `seeds-routers-${i}`);
    saveRouters(dir, data, base, { steps: 1 });
    return readFolder(dir, ["router.json", "routers.safetensors"]);
  });
}

const routersTarget = (): Target => ({
  name: "routers",
  kinds: { "router.json": "json", "routers.safetensors": "safetensors" },
  seeds: routerSeeds(),
  errorClass: FirstError,
  load: (dir) => {
    const { data } = loadRouters(dir);
    const c = data.config;
    if (data.layers.length !== c.nLayers) throw new Error(`accepted ${data.layers.length} layers for nLayers ${c.nLayers}`);
    if (!(Number.isFinite(c.normEps) && c.normEps > 0)) throw new Error(`accepted normEps ${c.normEps}`);
    data.layers.forEach((w, l) => {
      if (!w) return;
      const sizes = c.kind === "linear"
        ? [[w.fcWeight?.length, c.dModel]]
        : [[w.normWeight?.length, c.dModel], [w.fc1Weight?.length, c.hidden * c.dModel], [w.fc1Bias?.length, c.hidden], [w.fc2Weight?.length, c.hidden]];
      for (const [have, want] of sizes) if (have !== want) throw new Error(`accepted layer ${l} with ${have} values, expected ${want}`);
    });
  },
});

const peftShape: LoraModelShape = { nLayers: 2, dModel: 4, nHeads: 2, nKvHeads: 1, headDim: 2, ffnDim: 6 };

function peftSeeds(): Seed[] {
  const adapters: Omit<LoraAdapter, "scale">[] = [
    { rank: 2, alpha: 4, targets: ["q", "v"], baseModel: "tiny", pairs: [] },
    { rank: 1, alpha: 1, targets: ["down", "gate"], pairs: [] },
  ];
  return adapters.map((a, i) => {
    for (let layer = 0; layer < peftShape.nLayers; layer++) {
      for (const module of a.targets) {
        const [inDim, outDim] = moduleDims(module, peftShape);
        a.pairs.push({ layer, module, a: values(a.rank * inDim, layer + 1), b: values(outDim * a.rank, layer + 2) });
      }
    }
    const dir = join(root, `seeds-peft-${i}`);
    writePeftAdapter(dir, a, peftShape, i === 0 ? "F16" : "F32");
    return readFolder(dir, ["adapter_config.json", "adapter_model.safetensors"]);
  });
}

// Checks an adapter against its own rank, and against the model when one is given.
function checkAdapter(a: LoraAdapter, shape?: LoraModelShape): void {
  if (!(Number.isFinite(a.scale) && a.scale > 0)) throw new Error(`accepted scale ${a.scale}`);
  const seen = new Set<string>();
  for (const p of a.pairs) {
    if (!Number.isSafeInteger(p.layer) || p.layer < 0) throw new Error(`accepted layer ${p.layer}`);
    if (seen.has(`${p.layer}.${p.module}`)) throw new Error(`accepted layer ${p.layer} ${p.module} twice`);
    seen.add(`${p.layer}.${p.module}`);
    if (p.a.length === 0 || p.b.length === 0 || p.a.length % a.rank || p.b.length % a.rank)
      throw new Error(`accepted layer ${p.layer} ${p.module} with ${p.a.length} and ${p.b.length} values at rank ${a.rank}`);
    if (shape) {
      const [inDim, outDim] = moduleDims(p.module, shape);
      if (p.layer >= shape.nLayers || p.a.length !== a.rank * inDim || p.b.length !== outDim * a.rank)
        throw new Error(`accepted layer ${p.layer} ${p.module} that does not fit the model`);
    }
  }
}

const peftTarget = (): Target => ({
  name: "peft",
  kinds: { "adapter_config.json": "json", "adapter_model.safetensors": "safetensors" },
  seeds: peftSeeds(),
  errorClass: FirstError,
  load: (dir) => {
    checkAdapter(readPeftAdapter(dir), undefined);
    checkAdapter(readPeftAdapter(dir, peftShape), peftShape);
  },
});

// --- tests ---------------------------------------------------------------

describe("loader fuzzing (deterministic mutations of valid seeds)", () => {
  for (const make of [safetensorsTarget, routersTarget, peftTarget]) {
    const target = make();
    it(`${target.name}: ${ITERATIONS} mutants load or throw the loader's error`, async () => {
      for (const s of target.seeds) target.load(writeSeed(target.name, s));  // the seeds themselves are valid
      const report = await fuzz(target, ITERATIONS, SEED);
      console.log(`loader fuzz ${target.name}: ${report.inputs} inputs, ${report.accepted} accepted, ${report.refused} refused, ${report.failures.length} failures`);
      expect(report.failures).toEqual([]);
      expect(report.inputs).toBe(ITERATIONS);
      // Both outcomes happen, or the mutator is not reaching the checks.
      expect(report.refused).toBeGreaterThan(ITERATIONS / 10);
      expect(report.accepted).toBeGreaterThan(0);
    }, 3_600_000);
  }
});

function writeSeed(name: string, s: Seed): string {
  const dir = join(root, `${name}-seed`);
  mkdirSync(dir, { recursive: true });
  for (const [n, b] of s.files) writeFileSync(join(dir, n), b);
  return dir;
}
