// Training speed: tokens per second of a training step (forward through every
// layer, loss, backward) for each stage, routers and LoRA, on the default
// model with the native Trainer. Sequences come from the task mix.
//
//   node benchmarks/dist/train-speed.js [--model M] [--steps 6] [--batch 4] [--seq-len 256]
//                                       [--threads 1,2] [--out benchmarks/results] [--data-dir D]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  findDataDir,
  VERSION,
} from "@first/core";
import {
  codecForModel,
  defaultTrainSettings,
  encodeExamples,
  mixExamples,
  nativeBackendFactory,
  runTraining,
  type TrainStage,
} from "@first/train";
import { fail, intListOption, intOption, parseOptions } from "./cli.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { DEFAULT_RESULTS_DIR, table, writeResults } from "./results.js";
import { roundSummary, summarize, type Summary } from "./stats.js";

const USAGE = `usage: node benchmarks/dist/train-speed.js [--model M] [--steps 6] [--batch 4] [--seq-len 256]
                                            [--threads 1,2] [--out benchmarks/results] [--data-dir D]`;

const args = parseOptions(
  {
    model: { type: "string" },
    steps: { type: "string" },
    batch: { type: "string" },
    "seq-len": { type: "string" },
    threads: { type: "string" },
    out: { type: "string" },
    "data-dir": { type: "string" },
  },
  USAGE,
);
const steps = intOption("steps", args.steps, 6, 2);
const batch = intOption("batch", args.batch, 4);
const seqLen = intOption("seq-len", args["seq-len"], 256, 16);
const threadCounts = intListOption("threads", args.threads, [1, 2]);

const modelPath = await benchmarkModel(args.model);
const machine = describeMachine();
const codec = codecForModel(modelPath);
const { sequences } = encodeExamples(codec, mixExamples(findDataDir(args["data-dir"]), { perTask: steps * batch, seed: 0 }), seqLen);
if (sequences.length < steps * batch) fail(`only ${sequences.length} sequences fit in --seq-len ${seqLen}`);
const train = sequences.slice(0, steps * batch);

interface Series {
  stage: TrainStage;
  threads: number;
  /** Tokens (all positions) per second of a whole step, first step excluded (warm-up). */
  tokensPerSecond: Summary;
  stepMs: Summary;
  tokensPerStep: number;
}

const series: Series[] = [];
for (const threads of threadCounts) {
  const factory = nativeBackendFactory(modelPath, threads);
  const c = factory.config;
  for (const stage of ["routers", "lora"] as const) {
    const out = mkdtempSync(join(tmpdir(), "first-train-speed-"));
    const settings = { ...defaultTrainSettings(c.nLayers), stages: [stage], steps, batch, saveEvery: 0, evalEvery: 0, hardAfter: 1 };
    const tps: number[] = [];
    const ms: number[] = [];
    let tokens = 0;
    try {
      // Stage "lora" alone applies these routers' masks; at init p ~ 0.93 >= 0.5, so every layer runs.
      const base = await runTraining({
        settings: { ...settings, stages: ["routers"], steps: 1 },
        shape: { nLayers: c.nLayers, dModel: c.dModel, normEps: c.rmsEps },
        train,
        backend: () => factory.create(),
        outDir: join(out, "init"),
      });
      await runTraining({
        settings,
        shape: { nLayers: c.nLayers, dModel: c.dModel, normEps: c.rmsEps },
        train,
        routers: base.routers,
        backend: (s) => factory.create(s === "lora" ? { rank: settings.loraRank, alpha: settings.loraAlpha, targets: settings.loraTargets, seed: 0 } : undefined),
        outDir: out,
        onStep: (r) => {
          if (r.step === 1) return;
          tps.push(r.tokensPerSecond);
        },
      });
      tokens = train.slice(0, batch).reduce((a, s) => a + s.tokens.length, 0);
      for (const t of tps) ms.push((tokens / t) * 1000);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    series.push({ stage, threads, tokensPerSecond: roundSummary(summarize(tps), 1), stepMs: roundSummary(summarize(ms), 1), tokensPerStep: tokens });
    process.stderr.write(`${stage} threads=${threads}: ${summarize(tps).median.toFixed(0)} tok/s\n`);
  }
}

const result = {
  benchmark: "train-speed",
  version: VERSION,
  date: new Date().toISOString(),
  machine,
  model: modelPath,
  settings: { steps, batch, seqLen, measuredSteps: steps - 1, data: "mix (train splits)", loraRank: 8, loraTargets: "q,k,v,o" },
  series,
};
const paths = writeResults(args.out ?? DEFAULT_RESULTS_DIR, "train-speed", result);
process.stdout.write(
  `${table(
    ["stage", "threads", "tokens/s (median)", "step ms (median)"],
    series.map((s) => [s.stage, String(s.threads), s.tokensPerSecond.median.toFixed(0), s.stepMs.median.toFixed(0)]),
    2,
  )}\n${paths.join("\n")}\n`,
);
