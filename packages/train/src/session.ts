// A whole training run from options: model, data, native Trainer, the loop,
// and the outputs (DIR/routers in the router checkpoint format, DIR/lora in
// PEFT format, DIR/train-log.jsonl, DIR/checkpoint/).
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import { findDataDir, FirstError, readPeftAdapter, writePeftAdapter, type LoraPair, readGguf, readModelConfig, resolveModelPath, loadRouters, saveRouters, fileSha256, type ModelIdentity, DEFAULT_EXEMPT } from "@first/core";
import type { TrainBackend } from "./backend.js";
import { loadTrainCheckpoint } from "./checkpoint-state.js";
import { codecForModel, encodeExamples, readJsonlExamples, TrainDataError, type TrainExample, type TrainSequence } from "./data.js";
import { type MixCounts, mixExamples } from "./mix.js";
import { nativeBackendFactory } from "./native-backend.js";
import { TrainableRouters } from "./router-net.js";
import { runTraining, type EvalReport, type StepReport, type TrainResult, type TrainSettings, type TrainStage } from "./run.js";

export interface TrainRunOptions {
  model?: string;
  /** A JSONL file, or "mix". */
  data: string;
  eval?: string;
  out: string;
  settings: TrainSettings;
  /** Layers that always run (default: 0, 1 and the last). */
  exempt?: number[];
  maxSeqLen: number;
  /** Router checkpoint for a LoRA-only run (default: OUT/routers). */
  routers?: string;
  /** A PEFT adapter the LoRA stage continues from; its rank, alpha and targets replace the settings'. */
  initLora?: string;
  threads?: number;
  dataDir?: string;
  mixPerTask?: number;
  /** Examples of the named mix tasks instead of mixPerTask. */
  mixCounts?: MixCounts;
  resume?: boolean;
  /** The command line, recorded in the outputs. */
  command?: string;
  signal?: AbortSignal;
  onStep?(r: StepReport): void;
  onEval?(r: EvalReport): void;
  onInfo?(message: string): void;
  /** Replaces the native Trainer (tests). */
  backend?(stage: TrainStage): TrainBackend;
}

export interface TrainRunResult extends TrainResult {
  routersDir?: string;
  loraDir?: string;
  trainSequences: number;
  dropped: number;
}

function examplesFor(spec: string, dataDir: string | undefined, perTask: number | undefined, counts: MixCounts | undefined, seed: number): TrainExample[] {
  if (spec === "mix") return mixExamples(findDataDir(dataDir), { perTask, counts, seed });
  return readJsonlExamples(spec);
}

/** What a checkpoint records about the run besides its settings. */
interface SavedMeta {
  command?: string;
  data?: string;
  eval?: string;
  model?: string;
  maxSeqLen?: number;
  mixPerTask?: number;
  mixCounts?: MixCounts;
  routers?: string;
  initLora?: string;
}

export async function trainRouters(o: TrainRunOptions): Promise<TrainRunResult> {
  const s = o.settings;
  if (o.resume) {
    const ckpt = join(o.out, "checkpoint");
    if (!existsSync(join(ckpt, "state.json"))) throw new TrainDataError(`--resume: ${ckpt} has no checkpoint to continue`);
    const saved = loadTrainCheckpoint<{ settings: TrainSettings; meta?: SavedMeta }>(ckpt).state;
    Object.assign(s, saved.settings);
    // The data and model of the interrupted run, unless given again.
    const m = saved.meta ?? {};
    o = { ...o, data: o.data || (m.data ?? ""), eval: o.eval ?? m.eval, model: o.model ?? m.model, maxSeqLen: m.maxSeqLen ?? o.maxSeqLen, mixPerTask: m.mixPerTask ?? o.mixPerTask, mixCounts: m.mixCounts ?? o.mixCounts, routers: o.routers ?? m.routers, initLora: m.initLora };
  }
  const modelPath = await resolveModelPath(o.model, { pull: true });
  const factory = o.backend ? null : nativeBackendFactory(modelPath, o.threads);
  // The shape as the engine reads it (the TypeScript backend of the tests reads the same file).
  const config = factory?.config ?? readModelConfig(modelPath);
  const { nLayers, dModel, rmsEps: normEps } = config;
  const shape = { nLayers, dModel, nHeads: config.nHeads, nKvHeads: config.nKvHeads, headDim: config.headDim, ffnDim: config.ffnDim };
  if (o.exempt && !o.resume) s.exempt = o.exempt;
  else if (!o.resume) s.exempt = DEFAULT_EXEMPT(nLayers);
  if (s.exempt.some((l) => l < 0 || l >= nLayers)) throw new TrainDataError(`exempt layers must lie in 0..${nLayers - 1}`);

  const codec = codecForModel(modelPath);
  const train = encodeExamples(codec, examplesFor(o.data, o.dataDir, o.mixPerTask, o.mixCounts, s.seed), o.maxSeqLen);
  if (train.sequences.length === 0) throw new TrainDataError(`no training example fits in --max-seq-len ${o.maxSeqLen}`);
  o.onInfo?.(`${train.sequences.length} training sequences${train.dropped > 0 ? ` (${train.dropped} dropped: a response alone was longer than --max-seq-len)` : ""}`);
  let evalSeqs: TrainSequence[] | undefined;
  if (o.eval) evalSeqs = encodeExamples(codec, readJsonlExamples(o.eval), o.maxSeqLen).sequences;

  const identity: ModelIdentity = { architecture: config.architecture, nLayers, dModel, sha256: await fileSha256(modelPath) };
  let routers: TrainableRouters | undefined;
  if (s.loraMask?.kind === "policy") {
    // A fixed-mask baseline: no routers decide anything.
    if (s.stages.includes("routers")) throw new TrainDataError("a fixed layer policy applies to --stage lora only");
    if (s.loraMask.executed.length !== nLayers) throw new TrainDataError(`the layer mask has ${s.loraMask.executed.length} entries, the model has ${nLayers} layers`);
  } else if (!s.stages.includes("routers")) {
    const dir = o.routers ?? join(o.out, "routers");
    if (!existsSync(dir)) throw new TrainDataError(`--stage lora needs routers: give --routers DIR (stage-1 output) or run --stage both`);
    routers = TrainableRouters.fromRouterSetData(loadRouters(dir, identity).data);
  }

  let initLora: LoraPair[] | undefined;
  if (o.initLora !== undefined) {
    if (!s.stages.includes("lora")) throw new TrainDataError("--init-lora needs --stage lora or both");
    const adapter = readPeftAdapter(o.initLora, shape);
    if (Math.abs(adapter.scale - adapter.alpha / adapter.rank) > 1e-12) throw new TrainDataError(`--init-lora ${o.initLora}: rsLoRA adapters (use_rslora) cannot be trained further here`);
    if (!o.resume) Object.assign(s, { loraRank: adapter.rank, loraAlpha: adapter.alpha, loraTargets: adapter.targets });
    initLora = adapter.pairs;
    o.onInfo?.(`LoRA starts from ${o.initLora} (rank ${adapter.rank}, alpha ${adapter.alpha}, ${adapter.targets.join(",")})`);
  }

  const backends = new Map<TrainStage, TrainBackend>();
  const backendFor = (stage: TrainStage): TrainBackend => {
    if (o.backend) return o.backend(stage);
    let b = backends.get(stage);
    if (!b) {
      b = factory!.create(stage === "lora" ? { rank: s.loraRank, alpha: s.loraAlpha, targets: s.loraTargets, seed: s.seed } : undefined);
      backends.set(stage, b);
    }
    return b;
  };

  const result = await runTraining({
    settings: s,
    shape: { nLayers, dModel, normEps },
    train: train.sequences,
    eval: evalSeqs,
    backend: backendFor,
    outDir: o.out,
    routers,
    initLora,
    meta: { command: o.command, data: o.data, eval: o.eval, model: modelPath, maxSeqLen: o.maxSeqLen, mixPerTask: o.mixPerTask, mixCounts: o.mixCounts, routers: o.routers, initLora: o.initLora } satisfies SavedMeta,
    resume: o.resume,
    signal: o.signal,
    onStep: o.onStep,
    onEval: o.onEval,
  });

  const generalName = readGguf(modelPath).metadata["general.name"];
  const name = typeof generalName === "string" ? generalName : basename(modelPath);
  const out: TrainRunResult = { ...result, trainSequences: train.sequences.length, dropped: train.dropped };
  if (s.stages.includes("routers") && result.routers) {
    out.routersDir = join(o.out, "routers");
    saveRouters(out.routersDir, result.routers.toRouterSetData(s.threshold), { ...identity, name }, {
      command: o.command,
      steps: result.steps.routers,
      lambda: s.lambda,
      alpha: s.alpha,
      target: s.target,
      data: o.data,
      trainSequences: train.sequences.length,
      maxSeqLen: o.maxSeqLen,
      seed: s.seed,
      hardAfter: s.hardAfter,
      lr: s.lr,
      batch: s.batch,
      timeSeconds: Math.round(result.elapsedMs / 100) / 10,
      lastEval: result.lastEval,
    });
  }
  if (result.lora) {
    out.loraDir = join(o.out, "lora");
    writePeftAdapter(out.loraDir, { rank: s.loraRank, alpha: s.loraAlpha, targets: s.loraTargets, baseModel: name, pairs: result.lora.pairs }, shape);
  }
  if (!result.finished) throw new FirstError("ABORTED", "training stopped early");
  return out;
}
