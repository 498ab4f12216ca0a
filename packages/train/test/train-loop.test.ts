// The training loop on a small TypeScript model with the native Trainer's
// interface: losses go down, and a run interrupted and resumed ends with
// exactly the weights of an uninterrupted one.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { TrainSequence } from "../src/data.js";
import { TrainRandom } from "../src/random.js";
import { defaultTrainSettings, readTrainLog, runTraining, type TrainContext, type TrainSettings } from "../src/run.js";
import { ToyBackend } from "./train-toy.js";

const LAYERS = 5, D = 6, VOCAB = 13;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "first-train-loop-"));
  dirs.push(d);
  return d;
};

/** Sequences whose response repeats the prompt's tokens shifted by one: learnable by the toy's LoRA. */
function sequences(n: number, seed: number): TrainSequence[] {
  const rng = new TrainRandom(seed);
  return Array.from({ length: n }, () => {
    const prompt = Array.from({ length: 3 }, () => Math.floor(rng.next() * VOCAB));
    const response = prompt.map((t) => (t + 1) % VOCAB);
    const tokens = [...prompt, ...response];
    const targets = tokens.map((_, i) => (i >= prompt.length - 1 && i + 1 < tokens.length ? tokens[i + 1] : -1));
    return { tokens: Int32Array.from(tokens), targets: Int32Array.from(targets), promptLength: prompt.length };
  });
}

function context(outDir: string, settings: Partial<TrainSettings>, extra: Partial<TrainContext> = {}): TrainContext {
  const backends = new Map<string, ToyBackend>();
  return {
    settings: { ...defaultTrainSettings(LAYERS), routerHidden: 4, batch: 3, saveEvery: 0, evalEvery: 0, ...settings },
    shape: { nLayers: LAYERS, dModel: D, normEps: 1e-5 },
    train: sequences(12, 1),
    eval: sequences(4, 2),
    outDir,
    backend: (stage) => {
      if (!backends.has(stage)) backends.set(stage, new ToyBackend(LAYERS, D, VOCAB, 5, stage === "lora" ? { rank: 2, alpha: 4 } : undefined));
      return backends.get(stage)!;
    },
    ...extra,
  };
}

describe("training loop", () => {
  it("the sparsity term lowers the execution probability; the log and eval are written", async () => {
    const out = tmp();
    const evals: number[] = [];
    const r = await runTraining(context(out, { steps: 20, lambda: 2, lr: 0.3, evalEvery: 10 }, { onEval: (e) => evals.push(e.skipRatio) }));
    const log = readTrainLog(out);
    const steps = log.filter((l) => l.type === "step");
    expect(steps).toHaveLength(20);
    expect(steps[19].meanP as number).toBeLessThan((steps[0].meanP as number) - 0.2);
    expect(log.filter((l) => l.type === "eval")).toHaveLength(2);
    expect(evals.at(-1)).toBeGreaterThan(0);
    expect(r.finished).toBe(true);
    expect(steps.slice(14).every((l) => l.hard === true)).toBe(true);
    expect(steps[13].hard).toBe(false);
  });

  it("LoRA training lowers the cross-entropy with the routers' masks applied", async () => {
    const out = tmp();
    const r = await runTraining(context(out, { stages: ["lora"], steps: 30, loraLr: 0.05, warmup: 0 }));
    const steps = readTrainLog(out).filter((l) => l.type === "step");
    const first = steps.slice(0, 3).reduce((a, l) => a + (l.ce as number), 0);
    const last = steps.slice(-3).reduce((a, l) => a + (l.ce as number), 0);
    expect(last).toBeLessThan(first * 0.8);
    expect(r.lora!.pairs).toHaveLength(LAYERS);
    expect(r.lora!.pairs[0].b.some((x) => x !== 0)).toBe(true);
  });

  it("a LoRA stage given an adapter starts from its weights (continued training)", async () => {
    const first = await runTraining(context(tmp(), { stages: ["lora"], steps: 30, loraLr: 0.05, warmup: 0 }));
    const firstCe = readTrainLog(dirs.at(-1)!).filter((l) => l.type === "step").map((l) => l.ce as number);
    // With a zero learning rate the adapter comes back unchanged, and the first batches already score like the end of the first run.
    const frozen = await runTraining(context(tmp(), { stages: ["lora"], steps: 3, loraLr: 0, warmup: 0 }, { initLora: first.lora!.pairs }));
    const frozenCe = readTrainLog(dirs.at(-1)!).filter((l) => l.type === "step").map((l) => l.ce as number);
    expect(frozen.lora!.pairs.map((p) => [Array.from(p.a), Array.from(p.b)])).toEqual(first.lora!.pairs.map((p) => [Array.from(p.a), Array.from(p.b)]));
    const mean3 = (xs: number[]) => (xs[0] + xs[1] + xs[2]) / 3;
    expect(mean3(frozenCe)).toBeLessThan(mean3(firstCe) * 0.85);
    const wrong = first.lora!.pairs.map((p) => ({ ...p, b: p.b.slice(1) }));
    await expect(runTraining(context(tmp(), { stages: ["lora"], steps: 1 }, { initLora: wrong }))).rejects.toThrow(/initial LoRA layers\.0\.q\.B: 11 values, the trainer has 6x2/);
  });

  it("a LoRA stage under a fixed policy or a layer budget runs exactly those layers", async () => {
    const record = (gatesSeen: number[][]) => (stage: string) => {
      const b = new ToyBackend(LAYERS, D, VOCAB, 5, stage === "lora" ? { rank: 2, alpha: 4 } : undefined);
      const forward = b.forwardLayer.bind(b);
      b.forwardLayer = (l, g) => (gatesSeen.push([l, ...g]), forward(l, g));
      return b;
    };
    // A fixed mask: every sequence of every step skips layer 2.
    const executed = Array.from({ length: LAYERS }, (_, l) => l !== 2);
    const fixed: number[][] = [];
    const r = await runTraining(context(tmp(), { stages: ["lora"], steps: 3, loraMask: { kind: "policy", policy: "skip:2", executed } }, { backend: record(fixed) }));
    expect(r.finished).toBe(true);
    for (const [l, ...g] of fixed) expect(g.every((x) => x === (l === 2 ? 0 : 1))).toBe(true);
    // A budget of LAYERS - 1 layers: a probe pass with every gate open, then exactly one routable layer off per sequence.
    const budget: number[][] = [];
    await runTraining(context(tmp(), { stages: ["lora"], steps: 2, loraMask: { kind: "budget", layers: LAYERS - 1 } }, { backend: record(budget) }));
    const passes = [];
    for (let i = 0; i < budget.length; i += LAYERS) passes.push(budget.slice(i, i + LAYERS));
    expect(passes).toHaveLength(4); // probe + forward, two steps
    for (const [k, pass] of passes.entries()) {
      const closed = pass.flatMap(([, ...g]) => g).filter((x) => x === 0).length;
      expect(closed).toBe(k % 2 === 0 ? 0 : 3); // batch of 3: one layer each
      for (const [l, ...g] of pass) if (l === 0 || l === LAYERS - 1) expect(g.every((x) => x === 1)).toBe(true);
    }
  });

  it("passes the loss weighting to the backend in both stages", async () => {
    const asked: (string | undefined)[] = [];
    const toy = new Map<string, ToyBackend>();
    await runTraining(context(tmp(), { stages: ["routers", "lora"], steps: 2, lossWeighting: "sequences" }, {
      backend: (stage) => {
        if (!toy.has(stage)) {
          const b = new ToyBackend(LAYERS, D, VOCAB, 5, stage === "lora" ? { rank: 2, alpha: 4 } : undefined);
          const loss = b.loss.bind(b);
          b.loss = (w) => (asked.push(w), loss(w));
          toy.set(stage, b);
        }
        return toy.get(stage)!;
      },
    }));
    expect(asked).toEqual(["sequences", "sequences", "sequences", "sequences"]);
  });

  it("an interrupted run resumed from its checkpoint ends exactly like an uninterrupted one", async () => {
    const settings: Partial<TrainSettings> = { stages: ["routers", "lora"], steps: 5, lr: 0.02, loraLr: 0.02, lambda: 0.1, hardAfter: 0.6 };
    const whole = await runTraining(context(tmp(), settings));
    const out = tmp();
    for (const stopAfter of [2, 5]) {
      const partial = await runTraining(context(out, settings, { stopAfter, resume: true }));
      expect(partial.finished).toBe(false);
    }
    const resumed = await runTraining(context(out, settings, { resume: true }));
    expect(resumed.finished).toBe(true);
    const weights = (r: typeof whole) => [
      ...r.routers!.tensors().map((t) => Array.from(t.value)),
      ...r.lora!.pairs.flatMap((p) => [Array.from(p.a), Array.from(p.b)]),
    ];
    expect(weights(resumed)).toEqual(weights(whole));
    const log = readTrainLog(out).filter((l) => l.type === "step");
    expect(log.map((l) => `${l.stage}:${l.step}`)).toEqual([1, 2, 3, 4, 5].map((s) => `routers:${s}`).concat([1, 2, 3, 4, 5].map((s) => `lora:${s}`)));
    expect(JSON.parse(readFileSync(join(out, "checkpoint", "state.json"), "utf8")).stageIndex).toBe(1);
  });
});
