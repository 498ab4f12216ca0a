// The FiRST training loop. The base model is frozen; each routable layer l
// runs as h_{l+1} = h_l + g_l (F_l(h_l) - h_l), with g_l from its router
// applied to the mean prompt hidden state entering the layer, once per
// sequence. Stage "routers" trains the routers (soft gates, then hard gates
// with a straight-through estimator); stage "lora" trains LoRA adapters with
// the routers' hard decisions applied. See docs/router-training.md.
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AbortedError, FirstError, type NamedTensor, type RouterSetConfig, type LoraModule, type LoraPair, DEFAULT_EXEMPT, budgetMask, budgetSkips, driveLayers } from "@first/core";
import { trainerStack, type LoraTensorInfo, type LossWeighting, type TrainBackend } from "./backend.js";
import { loadTrainCheckpoint, saveTrainCheckpoint } from "./checkpoint-state.js";
import type { TrainSequence } from "./data.js";
import { gateFor, isHardStep, routerRegularizer, type BudgetScope } from "./objective.js";
import { AdamW, ADAMW_DEFAULTS, clipGradNorm, learningRate, type TrainParam } from "./optimizer.js";
import { TrainRandom } from "./random.js";
import { routerBackward, routerForward, TrainableRouters, type RouterCache } from "./router-net.js";

export type TrainStage = "routers" | "lora";

export interface TrainSettings {
  stages: TrainStage[];
  lambda: number;
  alpha: number;
  target?: number;
  budgetWeight: number;
  /** Budget term over each sequence or over the batch (see routerRegularizer). */
  budgetOver: BudgetScope;
  /** Steps per stage; when absent, epochs over the training set. */
  steps?: number;
  epochs: number;
  lr: number;
  loraLr: number;
  batch: number;
  /** Warm-up: a fraction of the stage's steps when < 1, else a number of steps. */
  warmup: number;
  weightDecay: number;
  clip: number;
  seed: number;
  routerKind: "linear" | "mlp";
  routerHidden: number;
  exempt: number[];
  threshold: number;
  /** Fraction of the router stage after which gates are hard (straight-through); >= 1 never. */
  hardAfter: number;
  /** Router init: p for any input at step 0. */
  initP: number;
  /** Pass the routers' input gradient into the model (default false: the router input is detached). */
  routerInputGrad: boolean;
  loraRank: number;
  loraAlpha: number;
  loraTargets: LoraModule[];
  /** Cross-entropy averaged over all response tokens of a batch, or per sequence first (short responses count as much as long ones). */
  lossWeighting: LossWeighting;
  /**
   * Which layers the LoRA stage runs: the routers at their threshold (absent),
   * a fixed mask for every sequence (a baseline such as uls:k, trained like
   * FiRST's adapter), or a budget of executed layers the routers rank on the
   * full model's hidden states (as inference does with a layer budget).
   */
  loraMask?: { kind: "policy"; policy: string; executed: boolean[] } | { kind: "budget"; layers: number };
  evalEvery: number;
  saveEvery: number;
}

export interface ModelShape {
  nLayers: number;
  dModel: number;
  normEps: number;
}

export interface StepReport {
  stage: TrainStage;
  step: number;
  totalSteps: number;
  loss: number;
  ce: number;
  meanP: number;
  skipRatio: number;
  tokensPerSecond: number;
  etaS: number;
  hard: boolean;
}

export interface EvalReport {
  stage: TrainStage;
  step: number;
  ce: number;
  skipRatio: number;
  tokens: number;
}

export interface TrainContext {
  settings: TrainSettings;
  shape: ModelShape;
  train: TrainSequence[];
  eval?: TrainSequence[];
  /** A backend for a stage: without LoRA for "routers", with LoRA for "lora". */
  backend(stage: TrainStage): TrainBackend;
  outDir: string;
  /** Routers to apply during the LoRA stage when no router stage runs first. */
  routers?: TrainableRouters;
  /** Adapter weights the LoRA stage starts from (continued training) instead of PEFT's init. */
  initLora?: LoraPair[];
  /** Extra fields kept in the checkpoint (e.g. the command and data spec). */
  meta?: Record<string, unknown>;
  resume?: boolean;
  signal?: AbortSignal;
  onStep?(r: StepReport): void;
  onEval?(r: EvalReport): void;
  /** Stop after this many steps of this run (tests of resume); the checkpoint is written. */
  stopAfter?: number;
}

export interface TrainResult {
  routers?: TrainableRouters;
  lora?: { pairs: LoraPair[]; rank: number; alpha: number; targets: LoraModule[] };
  steps: Record<string, number>;
  elapsedMs: number;
  finished: boolean;
  lastEval?: EvalReport;
}

interface SavedState {
  settings: TrainSettings;
  meta?: Record<string, unknown>;
  stageIndex: number;
  step: number;
  epoch: number;
  cursor: number;
  order: number[];
  dataRng: number;
  adamT: number;
  logBytes: number;
  elapsedMs: number;
  stepsDone: Record<string, number>;
}

/** Number of updates a stage takes. */
export function stageSteps(s: TrainSettings, nTrain: number): number {
  return s.steps ?? Math.max(1, s.epochs * Math.ceil(nTrain / s.batch));
}

const loraModuleOf = (t: LoraTensorInfo) => t.module as LoraModule;

export async function runTraining(ctx: TrainContext): Promise<TrainResult> {
  const s = ctx.settings;
  const { nLayers, dModel } = ctx.shape;
  if (ctx.train.length === 0) throw new AbortedError("no training sequences");
  mkdirSync(ctx.outDir, { recursive: true });
  const ckptDir = join(ctx.outDir, "checkpoint");
  const logPath = join(ctx.outDir, "train-log.jsonl");
  const routerConfig: RouterSetConfig = {
    kind: s.routerKind,
    dModel,
    hidden: s.routerKind === "mlp" ? s.routerHidden : 0,
    nLayers,
    exempt: s.exempt,
    threshold: s.threshold,
    normEps: ctx.shape.normEps,
  };

  const routers = ctx.routers ?? TrainableRouters.init(routerConfig, new TrainRandom(s.seed), s.initP);
  const loraValues = new Map<string, Float32Array>();
  let loraInfo: LoraTensorInfo[] = [];
  let stageIndex = 0, elapsedBefore = 0;
  let dataRng = new TrainRandom(s.seed ^ 0x5bd1e995);
  const stepsDone: Record<string, number> = {};
  // Where a stage starts: from scratch (null) or from a checkpoint / the previous stage's hand-over.
  let position: { step: number; epoch: number; cursor: number; order: number[]; adamT: number; adam: Map<string, NamedTensor> } | null = null;

  if (ctx.resume && existsSync(join(ckptDir, "state.json"))) {
    const ck = loadTrainCheckpoint<SavedState>(ckptDir);
    const st = ck.state;
    stageIndex = st.stageIndex;
    Object.assign(s, st.settings);
    Object.assign(stepsDone, st.stepsDone);
    dataRng = TrainRandom.fromState(st.dataRng);
    elapsedBefore = st.elapsedMs;
    for (const t of routers.tensors()) {
      const saved = ck.tensors.get(`router.${t.name}`);
      if (saved) t.value.set(saved.data);
    }
    for (const [name, t] of ck.tensors) if (name.startsWith("lora.")) loraValues.set(name.slice(5), t.data);
    position = { step: st.step, epoch: st.epoch, cursor: st.cursor, order: st.order, adamT: st.adamT, adam: ck.tensors };
    if (existsSync(logPath) && statSync(logPath).size > st.logBytes) truncateSync(logPath, st.logBytes);
  } else {
    writeFileSync(logPath, "");
  }

  const t0 = performance.now();
  const log = (o: Record<string, unknown>) => appendFileSync(logPath, `${JSON.stringify(o)}\n`);
  let lastEval: EvalReport | undefined;
  let stepsThisRun = 0;

  for (; stageIndex < s.stages.length; stageIndex++) {
    const stage = s.stages[stageIndex];
    const total = stageSteps(s, ctx.train.length);
    const backend = ctx.backend(stage);
    const adam = new AdamW({ lr: stage === "routers" ? s.lr : s.loraLr, ...ADAMW_DEFAULTS, weightDecay: s.weightDecay });
    let { step, epoch, cursor, order } = position ?? { step: 0, epoch: 0, cursor: 0, order: dataRng.permutation(ctx.train.length) };
    if (position) {
      adam.t = position.adamT;
      for (const [name, t] of position.adam) {
        if (name.startsWith("adam.m.")) adam.m.set(name.slice(7), Float32Array.from(t.data));
        if (name.startsWith("adam.v.")) adam.v.set(name.slice(7), Float32Array.from(t.data));
      }
    }
    position = null;
    if (stage === "lora") {
      loraInfo = backend.loraTensors();
      if (loraValues.size === 0) {
        // PEFT's init: A ~ kaiming-uniform (bound 1/sqrt(in)), B = 0, so training starts from the base model;
        // pairs of a given adapter replace it where they exist.
        const rng = new TrainRandom(s.seed + 1);
        const given = new Map((ctx.initLora ?? []).map((p) => [`${p.layer}.${p.module}`, p]));
        for (const t of loraInfo) {
          const v = new Float32Array(t.rows * t.cols);
          if (t.kind === "A") for (let i = 0; i < v.length; i++) v[i] = rng.uniform(1 / Math.sqrt(t.cols));
          const init = given.get(`${t.layer}.${t.module}`);
          if (init) {
            const src = t.kind === "A" ? init.a : init.b;
            if (src.length !== v.length) throw new FirstError("INVALID_OPTION", `initial LoRA ${t.name}: ${src.length} values, the trainer has ${t.rows}x${t.cols}`);
            v.set(src);
          }
          loraValues.set(t.name, v);
        }
      }
      for (const t of loraInfo) backend.setLora(t.name, loraValues.get(t.name)!);
    }
    const warmupSteps = s.warmup < 1 ? Math.round(s.warmup * total) : Math.round(s.warmup);

    const nextBatch = (): TrainSequence[] => {
      const out: TrainSequence[] = [];
      while (out.length < s.batch) {
        if (cursor >= order.length) {
          epoch++;
          order = dataRng.permutation(ctx.train.length);
          cursor = 0;
        }
        out.push(ctx.train[order[cursor++]]);
      }
      return out;
    };

    const checkpoint = (at: { stageIndex: number; step: number; epoch: number; cursor: number; order: number[]; adam: AdamW | null }) => {
      const tensors = new Map<string, NamedTensor>();
      for (const t of routers.tensors()) tensors.set(`router.${t.name}`, { shape: [t.value.length], data: Float32Array.from(t.value) });
      for (const [name, v] of loraValues) tensors.set(`lora.${name}`, { shape: [v.length], data: v });
      if (at.adam) {
        for (const [name, m] of at.adam.m) tensors.set(`adam.m.${name}`, { shape: [m.length], data: m });
        for (const [name, v] of at.adam.v) tensors.set(`adam.v.${name}`, { shape: [v.length], data: v });
      }
      const state: SavedState = {
        settings: s,
        meta: ctx.meta,
        stageIndex: at.stageIndex,
        step: at.step,
        epoch: at.epoch,
        cursor: at.cursor,
        order: at.order,
        dataRng: dataRng.state,
        adamT: at.adam?.t ?? 0,
        logBytes: existsSync(logPath) ? statSync(logPath).size : 0,
        elapsedMs: elapsedBefore + (performance.now() - t0),
        stepsDone,
      };
      saveTrainCheckpoint(ckptDir, state, tensors);
    };
    const here = () => ({ stageIndex, step, epoch, cursor, order, adam });

    const stageStart = performance.now();
    const stepAtStart = step;
    while (step < total) {
      if (ctx.signal?.aborted) {
        checkpoint(here());
        throw new AbortedError("training interrupted; the checkpoint is saved (continue with --resume)");
      }
      const batch = nextBatch();
      const hard = stage === "routers" && isHardStep(step, total, s.hardAfter);
      const ts = performance.now();
      const r = stage === "routers" ? routerStep(backend, routers, batch, s, hard) : loraStep(backend, routers, batch, s.lossWeighting, s.loraMask);
      const lrNow = learningRate(step, { lr: adam.options.lr, warmupSteps, totalSteps: total });
      const params: TrainParam[] =
        stage === "routers"
          ? routers.tensors()
          : loraInfo.map((t) => ({ name: t.name, value: loraValues.get(t.name)!, grad: backend.loraGrad(t.name), decay: true }));
      const gradNorm = clipGradNorm(params, s.clip);
      adam.step(params, lrNow);
      if (stage === "lora") for (const t of loraInfo) backend.setLora(t.name, loraValues.get(t.name)!);
      step++;
      stepsDone[stage] = step;
      stepsThisRun++;
      const seconds = (performance.now() - ts) / 1000;
      const tokens = batch.reduce((a, b) => a + b.tokens.length, 0);
      const perStep = (performance.now() - stageStart) / 1000 / (step - stepAtStart);
      const report: StepReport = {
        stage, step, totalSteps: total, loss: r.loss, ce: r.ce, meanP: r.meanP, skipRatio: r.skipRatio,
        tokensPerSecond: tokens / Math.max(seconds, 1e-9), etaS: perStep * (total - step), hard,
      };
      log({ type: "step", stage, step, loss: r.loss, ce: r.ce, sparsity: r.sparsity, budget: r.budget, meanP: r.meanP, skipRatio: r.skipRatio, lr: lrNow, gradNorm, tokens, tokensPerSecond: report.tokensPerSecond, hard });
      ctx.onStep?.(report);
      if (ctx.eval && ctx.eval.length > 0 && s.evalEvery > 0 && (step % s.evalEvery === 0 || step === total)) {
        lastEval = { stage, step, ...evaluate(backend, routers, ctx.eval, s.batch, stage === "lora" ? s.loraMask : undefined) };
        log({ type: "eval", ...lastEval });
        ctx.onEval?.(lastEval);
      }
      const stopping = ctx.stopAfter !== undefined && stepsThisRun >= ctx.stopAfter && step < total;
      if (step === total && stageIndex + 1 < s.stages.length) {
        // Hand over to the next stage: its data order is drawn now, so a run resumed here draws the same.
        position = { step: 0, epoch: 0, cursor: 0, order: dataRng.permutation(ctx.train.length), adamT: 0, adam: new Map() };
        checkpoint({ ...position, stageIndex: stageIndex + 1, adam: null });
      } else if (step === total || stopping || (s.saveEvery > 0 && step % s.saveEvery === 0)) {
        checkpoint(here());
      }
      if (stopping) return { routers, steps: stepsDone, elapsedMs: elapsedBefore + (performance.now() - t0), finished: false, lastEval };
    }
  }

  const lora = loraValues.size > 0 ? { pairs: toPairs(loraInfo, loraValues), rank: s.loraRank, alpha: s.loraAlpha, targets: s.loraTargets } : undefined;
  return { routers, lora, steps: stepsDone, elapsedMs: elapsedBefore + (performance.now() - t0), finished: true, lastEval };
}

function toPairs(info: LoraTensorInfo[], values: Map<string, Float32Array>): LoraPair[] {
  const pairs = new Map<string, LoraPair>();
  for (const t of info) {
    const key = `${t.layer}.${t.module}`;
    const p = pairs.get(key) ?? { layer: t.layer, module: loraModuleOf(t), a: new Float32Array(), b: new Float32Array() };
    if (t.kind === "A") p.a = values.get(t.name)!;
    else p.b = values.get(t.name)!;
    pairs.set(key, p);
  }
  return [...pairs.values()];
}

interface StepResult {
  loss: number;
  ce: number;
  sparsity: number;
  budget: number;
  meanP: number;
  skipRatio: number;
}

/** Forward through every layer with router gates; backward into the routers (and LoRA when present). */
export function routerStep(backend: TrainBackend, routers: TrainableRouters, batch: TrainSequence[], s: TrainSettings, hard: boolean): StepResult {
  const nSeq = batch.length;
  const nLayers = routers.layers.length;
  const d = routers.config.dModel;
  routers.zeroGrad();
  backend.begin(batch);
  const caches: (RouterCache[] | null)[] = new Array(nLayers).fill(null);
  let skipped = 0;
  const gate = (l: number, i: number, hidden: () => Float32Array) => {
    const r = routers.layers[l];
    if (!r) return 1;
    const c = routerForward(r, Float32Array.from(hidden()));
    (caches[l] ??= new Array<RouterCache>(nSeq))[i] = c;
    if (c.p < s.threshold) skipped++;
    return gateFor(c.p, hard, s.threshold);
  };
  driveLayers(trainerStack(backend), { rows: nSeq, layers: nLayers, gate }, new Float32Array(d));
  const { loss: ce } = backend.loss(s.lossWeighting);
  const routable = routers.routable;
  const pRows = batch.map((_, i) => routable.map((l) => caches[l]![i].p));
  const reg = routerRegularizer(pRows, { lambda: s.lambda, alpha: s.alpha, target: s.target, budgetWeight: s.budgetWeight, budgetOver: s.budgetOver });
  let inputGrad: Float32Array | undefined;
  for (let l = nLayers - 1; l >= 0; l--) {
    const dg = backend.backwardLayer(l, inputGrad);
    inputGrad = undefined;
    const r = routers.layers[l];
    if (!r) continue;
    const k = routable.indexOf(l);
    if (s.routerInputGrad && l > 0) inputGrad = new Float32Array(nSeq * d);
    caches[l]!.forEach((c, i) => {
      // Straight-through when hard: dL/dp = dL/dg; soft: g = p.
      const dp = dg[i] + reg.grad[i][k];
      const dx = routerBackward(r, c, dp * c.p * (1 - c.p), inputGrad !== undefined);
      if (dx && inputGrad) for (let j = 0; j < d; j++) inputGrad[i * d + j] = dx[j];
    });
  }
  backend.end();
  const meanP = pRows.flat().reduce((a, b) => a + b, 0) / Math.max(1, nSeq * routable.length);
  return { loss: ce + reg.sparsity + reg.budget, ce, sparsity: reg.sparsity, budget: reg.budget, meanP, skipRatio: skipped / (nSeq * nLayers) };
}

/** Hard decisions of fixed routers; trains LoRA only. */
function loraStep(backend: TrainBackend, routers: TrainableRouters, batch: TrainSequence[], weighting: LossWeighting, mask?: TrainSettings["loraMask"]): StepResult {
  backend.zeroGrad();
  const f = forwardHard(backend, routers, batch, weighting, mask);
  for (let l = routers.layers.length - 1; l >= 0; l--) backend.backwardLayer(l);
  backend.end();
  return { loss: f.ce, ce: f.ce, sparsity: 0, budget: 0, meanP: f.meanP, skipRatio: f.skipRatio };
}

/** Forward with hard decisions (0 = skip, 1 = run) and the loss; the caller ends or backpropagates. */
function forwardHard(
  backend: TrainBackend,
  routers: TrainableRouters,
  batch: TrainSequence[],
  weighting: LossWeighting = "tokens",
  mask?: TrainSettings["loraMask"],
): { ce: number; tokens: number; meanP: number; skipRatio: number } {
  const nLayers = routers.layers.length;
  const hidden = new Float32Array(routers.config.dModel);
  let skipped = 0, pSum = 0, pCount = 0;
  // executed[i][l], when decided before the forward (fixed mask or budget).
  let planned: boolean[][] | null = null;
  if (mask?.kind === "policy") planned = batch.map(() => mask.executed);
  if (mask?.kind === "budget") {
    // The probe: every layer runs; the routers rank the layers of each sequence.
    const probs = batch.map(() => new Array<number>(nLayers).fill(Infinity));
    backend.begin(batch);
    const observe = (l: number, i: number, h: () => Float32Array) => {
      const r = routers.layers[l];
      if (r) probs[i][l] = routerForward(r, h()).p;
      return 1;
    };
    driveLayers(trainerStack(backend), { rows: batch.length, layers: nLayers, gate: observe }, hidden);
    backend.end();
    const routable = routers.routable;
    const skips = budgetSkips({ layers: mask.layers }, nLayers, routable.length);
    planned = probs.map((p) => {
      for (const l of routable) {
        pSum += p[l];
        pCount++;
      }
      return budgetMask(p, routable, skips, nLayers);
    });
  }
  backend.begin(batch);
  const gate = (l: number, i: number, h: () => Float32Array) => {
    let g: number;
    if (planned) g = planned[i][l] ? 1 : 0;
    else {
      const r = routers.layers[l];
      if (!r) return 1;
      const p = routerForward(r, h()).p;
      pSum += p;
      pCount++;
      g = p >= routers.config.threshold ? 1 : 0;
    }
    if (g === 0) skipped++;
    return g;
  };
  driveLayers(trainerStack(backend), { rows: batch.length, layers: nLayers, gate }, hidden);
  const { loss, tokens } = backend.loss(weighting);
  return { ce: loss, tokens, meanP: pCount > 0 ? pSum / pCount : 1, skipRatio: skipped / (batch.length * nLayers) };
}

/** Mean cross-entropy (weighted by target tokens) and skip ratio with hard decisions. */
export function evaluate(
  backend: TrainBackend,
  routers: TrainableRouters,
  seqs: TrainSequence[],
  batch: number,
  mask?: TrainSettings["loraMask"],
): { ce: number; skipRatio: number; tokens: number } {
  let ceSum = 0, tokens = 0, skipSum = 0;
  for (let i = 0; i < seqs.length; i += batch) {
    const chunk = seqs.slice(i, i + batch);
    const f = forwardHard(backend, routers, chunk, "tokens", mask);
    backend.end();
    ceSum += f.ce * f.tokens;
    tokens += f.tokens;
    skipSum += f.skipRatio * chunk.length;
  }
  return { ce: tokens > 0 ? ceSum / tokens : 0, skipRatio: skipSum / seqs.length, tokens };
}

/** Reads the steps logged so far (for tools and tests). */
export function readTrainLog(outDir: string): Record<string, unknown>[] {
  const path = join(outDir, "train-log.jsonl");
  if (!existsSync(path)) return [];
  return readFileSync(path, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** Defaults of every setting (documented in docs/router-training.md). */
export function defaultTrainSettings(nLayers: number): TrainSettings {
  return {
    stages: ["routers"],
    lambda: 0.01,
    alpha: 1,
    budgetWeight: 1,
    budgetOver: "sequence",
    epochs: 1,
    lr: 1e-3,
    loraLr: 2e-4,
    batch: 4,
    warmup: 0.05,
    weightDecay: 0.01,
    clip: 1,
    seed: 0,
    routerKind: "mlp",
    routerHidden: 64,
    exempt: DEFAULT_EXEMPT(nLayers),
    threshold: 0.5,
    hardAfter: 0.7,
    initP: 0.93,
    routerInputGrad: false,
    loraRank: 8,
    loraAlpha: 16,
    loraTargets: ["q", "k", "v", "o"],
    lossWeighting: "tokens",
    evalEvery: 100,
    saveEvery: 100,
  };
}
