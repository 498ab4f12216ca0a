// `first train`: FiRST router training (stage 1) and LoRA adapters with the
// routers' masks applied (stage 2), on a frozen base model.
import { loadModel, LORA_MODULE_NAMES, type LoraModule } from "@first/core";
import { BUDGET_SCOPES, defaultTrainSettings, MIX_TASKS, type MixCounts, parseMixCounts, type BudgetScope, trainRouters, type LossWeighting, type StepReport, type TrainSettings, type TrainStage } from "@first/train";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { formatDuration } from "../progress.js";

const D = defaultTrainSettings(30);

export const trainCommand = defineCommand({
  name: "train",
  summary: "Train FiRST routers (and optionally LoRA adapters) on a frozen model",
  description: [
    "Stage 'routers' trains one router per routable layer to predict from the prompt whether to run the layer;",
    "stage 'lora' trains LoRA adapters with the routers' skip decisions applied; 'both' runs one after the other.",
    "Data: a JSONL file of {\"prompt\", \"response\"} or {\"messages\": [...]} lines, or 'mix' (train splits of",
    "summarization, translation, QA and math from the datasets folder). Outputs in --out: routers/, lora/ (PEFT),",
    "train-log.jsonl, checkpoint/ (continue with --resume). See docs/router-training.md.",
  ].join("\n"),
  flags: {
    model: { type: "string", short: "m", help: "GGUF path, checkpoint folder, model name, hf:<owner>/<repo>/<file> or hf:<owner>/<repo> (default: smollm2-135m-instruct; with --resume: the run's)", valueName: "path" },
    data: { type: "string", help: "training data: a JSONL file or 'mix'", valueName: "file" },
    eval: { type: "string", help: "JSONL file evaluated every --eval-every steps (mean CE and skip ratio, hard decisions)", valueName: "file" },
    out: { type: "string", short: "o", help: "output folder", valueName: "dir" },
    stage: { type: "string", help: "what to train", choices: ["routers", "lora", "both"], default: "routers" },
    routers: { type: "string", help: "router checkpoint whose masks --stage lora applies (default: <out>/routers)", valueName: "dir" },
    initLora: { type: "string", help: "PEFT adapter the LoRA stage continues training from (its rank, alpha and targets are used)", valueName: "dir" },
    policy: { type: "string", help: "--stage lora under a fixed layer policy instead of routers (uls:k, bi:k, random:k[:seed], last:k, skip:...): a baseline's adapter", valueName: "p" },
    maxLayers: { type: "int", help: "--stage lora: each sequence runs exactly N layers, the routers ranking which (as --max-layers at inference)", min: 1, valueName: "n" },
    lambda: { type: "number", help: "weight of the sparsity term lambda * mean p^alpha", default: D.lambda, min: 0 },
    alpha: { type: "number", help: "exponent of the sparsity term", default: D.alpha, min: 0.01 },
    target: { type: "number", help: "target mean execution probability (adds (mean p - target)^2)", min: 0, max: 1 },
    budgetWeight: { type: "number", help: "weight of the --target term", default: D.budgetWeight, min: 0 },
    budgetOver: { type: "string", help: "the --target term holds for each sequence, or for the batch's mean (prompts trade layers)", choices: [...BUDGET_SCOPES], default: D.budgetOver },
    epochs: { type: "int", help: "passes over the data per stage (when --steps is not given)", default: D.epochs, min: 1 },
    steps: { type: "int", help: "updates per stage (overrides --epochs)", min: 1 },
    lr: { type: "number", help: "router learning rate (peak)", default: D.lr, min: 0 },
    loraLr: { type: "number", help: "LoRA learning rate (peak)", default: D.loraLr, min: 0 },
    batch: { type: "int", help: "sequences per update", default: D.batch, min: 1 },
    maxSeqLen: { type: "int", help: "tokens per sequence (the prompt is shortened, never the response)", default: 512, min: 16 },
    loraRank: { type: "int", help: "LoRA rank r", default: D.loraRank, min: 1 },
    loraAlpha: { type: "number", help: "LoRA alpha (scale alpha / r)", default: D.loraAlpha, min: 0 },
    loraTargets: { type: "string", help: `LoRA target modules, comma-separated (${LORA_MODULE_NAMES.join(",")})`, default: D.loraTargets.join(","), valueName: "list" },
    seed: { type: "int", help: "seed of router init, LoRA init and data order", default: D.seed, min: 0 },
    resume: { type: "boolean", help: "continue the run in <out>/checkpoint with its saved settings" },
    routerKind: { type: "string", help: "router network", choices: ["linear", "mlp"], default: D.routerKind },
    routerHidden: { type: "int", help: "hidden width of the mlp router", default: D.routerHidden, min: 1 },
    threshold: { type: "number", help: "a layer runs when p >= threshold (training STE and inference)", default: D.threshold, min: 0, max: 1 },
    hardAfter: { type: "number", help: "fraction of router steps after which gates are hard (straight-through); 1 = never", default: D.hardAfter, min: 0, max: 1 },
    initP: { type: "number", help: "execution probability the routers start from", default: D.initP, min: 0.01, max: 0.999 },
    routerInputGrad: { type: "boolean", help: "backpropagate the routers' loss into the model through their input (default: detached)" },
    lossWeighting: { type: "string", help: "cross-entropy mean over all response tokens, or per sequence first (short answers weigh as much as long ones)", choices: ["tokens", "sequences"], default: D.lossWeighting },
    exempt: { type: "string", help: "layers that always run, comma-separated (default: 0,1,last)", valueName: "list" },
    evalEvery: { type: "int", help: "steps between evaluations (0 = only at the end)", default: D.evalEvery, min: 0 },
    saveEvery: { type: "int", help: "steps between checkpoints (0 = only at the end)", default: D.saveEvery, min: 0 },
    warmup: { type: "number", help: "warm-up: a fraction of the steps when < 1, else a number of steps", default: D.warmup, min: 0 },
    weightDecay: { type: "number", help: "AdamW weight decay", default: D.weightDecay, min: 0 },
    clip: { type: "number", help: "global gradient-norm clip (0 = off)", default: D.clip, min: 0 },
    threads: { type: "int", short: "t", help: "CPU threads (default: all cores)", min: 1, max: 1024 },
    dataDir: { type: "string", help: "datasets folder for 'mix' (default: $FIRST_DATA or ../shared/data)", valueName: "dir" },
    mixPerTask: { type: "int", help: "examples per task in 'mix'", default: 500, min: 1 },
    mixCounts: { type: "string", help: `examples of some tasks in 'mix' instead of --mix-per-task, e.g. translation=600,qa=100 (${MIX_TASKS.join(", ")}; 0 leaves a task out)`, valueName: "list" },
  },
  examples: [
    "first train --data mix --out runs/mix --steps 2000 --lambda 0.01",
    "first train --data my.jsonl --eval my-eval.jsonl --out runs/mine --stage both --lora-rank 8",
    "first train --out runs/mix --resume",
    "first train --data mix --out runs/uls9 --stage lora --policy uls:9 --steps 300   # a baseline's adapter",
  ],
  async run({ flags: f, signal }) {
    if (f.out === undefined) throw new UsageError("--out is required");
    if (f.data === undefined && !f.resume) throw new UsageError("--data is required (a JSONL file or 'mix')");
    const targets = f.loraTargets.split(",").map((t) => t.trim()).filter(Boolean);
    const unknown = targets.filter((t) => !(LORA_MODULE_NAMES as string[]).includes(t));
    if (unknown.length > 0 || targets.length === 0)
      throw new UsageError(`--lora-targets: unknown module ${unknown.join(", ") || "(none given)"}; choose from ${LORA_MODULE_NAMES.join(",")}`);
    let mixCounts: MixCounts | undefined;
    try {
      mixCounts = f.mixCounts === undefined ? undefined : parseMixCounts(f.mixCounts);
    } catch (e) {
      throw new UsageError(`--mix-counts: ${(e as Error).message}`);
    }
    const settings: TrainSettings = defaultTrainSettings(30);
    const exempt = f.exempt === undefined ? undefined : f.exempt.split(",").map((x) => Number(x.trim()));
    if (exempt?.some((x) => !Number.isInteger(x) || x < 0)) throw new UsageError("--exempt: give layer numbers, e.g. 0,1,29");
    Object.assign(settings, {
      stages: (f.stage === "both" ? ["routers", "lora"] : [f.stage]) as TrainStage[],
      lambda: f.lambda, alpha: f.alpha, target: f.target, budgetWeight: f.budgetWeight, budgetOver: f.budgetOver as BudgetScope,
      epochs: f.epochs, steps: f.steps, lr: f.lr, loraLr: f.loraLr, batch: f.batch,
      warmup: f.warmup, weightDecay: f.weightDecay, clip: f.clip, seed: f.seed,
      routerKind: f.routerKind as "linear" | "mlp", routerHidden: f.routerHidden, threshold: f.threshold, hardAfter: f.hardAfter,
      initP: f.initP, routerInputGrad: f.routerInputGrad,
      loraRank: f.loraRank, loraAlpha: f.loraAlpha, loraTargets: targets as LoraModule[],
      lossWeighting: f.lossWeighting as LossWeighting,
      evalEvery: f.evalEvery, saveEvery: f.saveEvery,
    } satisfies Partial<TrainSettings>);
    if (f.policy !== undefined || f.maxLayers !== undefined) {
      if (f.stage !== "lora") throw new UsageError("--policy and --max-layers apply to --stage lora");
      if (f.policy !== undefined && f.maxLayers !== undefined) throw new UsageError("give either --policy or --max-layers, not both");
      if (f.policy !== undefined && f.routers !== undefined) throw new UsageError("--policy trains without routers: leave out --routers");
    }
    if (f.maxLayers !== undefined) settings.loraMask = { kind: "budget", layers: f.maxLayers };
    if (f.policy !== undefined && !f.resume) {
      // The mask the policy gives this model (bi:k measures Block Influence once and caches it).
      const model = await loadModel(f.model, { threads: f.threads, maxSequences: 1 });
      try {
        const plan = await model.planFor(f.policy, { dataDir: f.dataDir, exempt });
        const executed = plan.kind === "mask" ? plan.executed : new Array<boolean>(model.config.nLayers).fill(true);
        settings.loraMask = { kind: "policy", policy: f.policy, executed };
        process.stderr.write(`policy ${f.policy}: skips layers ${executed.flatMap((e, l) => (e ? [] : [l])).join(", ") || "none"}\n`);
      } catch (e) {
        throw new UsageError(`--policy: ${(e as Error).message}`);
      } finally {
        await model.close();
      }
    }
    const progress = stepProgress();
    const started = Date.now();
    const r = await trainRouters({
      model: f.model,
      data: f.data ?? "",
      eval: f.eval,
      out: f.out,
      settings,
      exempt,
      maxSeqLen: f.maxSeqLen,
      routers: f.routers,
      initLora: f.initLora,
      threads: f.threads,
      dataDir: f.dataDir,
      mixPerTask: f.mixPerTask,
      mixCounts,
      resume: f.resume,
      command: ["first", ...process.argv.slice(2)].join(" "),
      signal,
      onStep: progress.step,
      onEval: (e) => progress.note(`eval ${e.stage} step ${e.step}: ce ${e.ce.toFixed(4)}  skip ${(100 * e.skipRatio).toFixed(1)}%  (${e.tokens} tokens)`),
      onInfo: (m) => progress.note(m),
    });
    progress.done();
    const lines = [`trained in ${formatDuration((Date.now() - started) / 1000)} on ${r.trainSequences} sequences`];
    if (r.routersDir) lines.push(`routers: ${r.routersDir}`);
    if (r.loraDir) lines.push(`LoRA (PEFT): ${r.loraDir}`);
    process.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  },
});

/** One status line on stderr: redrawn on a terminal, every 10 s otherwise. */
function stepProgress() {
  const stream = process.stderr;
  const tty = stream.isTTY === true;
  let last = 0;
  let drawn = false;
  let line = "";
  const draw = () => {
    if (tty) {
      stream.write(`\r${line.slice(0, (stream.columns ?? 100) - 1)}\x1b[K`);
      drawn = true;
    } else stream.write(`${line}\n`);
  };
  return {
    step(r: StepReport) {
      const width = 20, filled = Math.round((r.step / r.totalSteps) * width);
      line = [
        `${r.stage} ${r.step}/${r.totalSteps}`,
        tty ? `[${"#".repeat(filled)}${".".repeat(width - filled)}]` : "",
        `loss ${r.loss.toFixed(4)}`,
        `skip ${(100 * r.skipRatio).toFixed(1)}%`,
        `${Math.round(r.tokensPerSecond)} tok/s`,
        `ETA ${formatDuration(r.etaS)}`,
        r.hard ? "hard" : "",
      ].filter(Boolean).join("  ");
      const now = Date.now();
      if (tty ? now - last >= 100 : now - last >= 10_000 || r.step === r.totalSteps) {
        last = now;
        draw();
      }
    },
    note(message: string) {
      if (tty && drawn) stream.write("\r\x1b[K");
      drawn = false;
      stream.write(`${message}\n`);
    },
    done() {
      if (tty && drawn) stream.write("\n");
      drawn = false;
    },
  };
}
