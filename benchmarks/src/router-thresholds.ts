// How many layers a router checkpoint skips, per task of the training mix,
// at one or more thresholds: prefill only (one generated token) on prompts of
// the train splits (never the eval splits, so choosing a threshold from it
// does not look at evaluation data). Exact: each threshold is its own run,
// since an earlier skip changes what later routers see.
//
// With --lora, the adapter is applied (it changes the hidden states the
// routers read, hence their decisions).
//
//   node benchmarks/dist/router-thresholds.js --routers DIR [--lora DIR] [--model M] [--thresholds 0.5,0.6]
//       [--per-task 24] [--seed 1] [--threads 2] [--data-dir DIR] [--out benchmarks/results]
import { findDataDir, loadModel, type ChatMessage } from "@first/core";
import { MIX_SOURCES } from "@first/train";
import { fail, intOption, parseOptions } from "./cli.js";
import { describeMachine } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { DEFAULT_RESULTS_DIR, table, writeResults } from "./results.js";

const USAGE = `usage: node benchmarks/dist/router-thresholds.js --routers DIR [--lora DIR] [--model M] [--thresholds 0.5,0.6]
       [--per-task 24] [--seed 1] [--threads 2] [--data-dir DIR] [--out benchmarks/results]`;
const args = parseOptions(
  {
    routers: { type: "string" },
    lora: { type: "string" },
    model: { type: "string" },
    thresholds: { type: "string" },
    "per-task": { type: "string" },
    seed: { type: "string" },
    threads: { type: "string" },
    "data-dir": { type: "string" },
    out: { type: "string" },
  },
  USAGE,
);
if (args.routers === undefined) fail(`--routers is required\n${USAGE}`);
const thresholds = (args.thresholds ?? "0.5").split(",").map(Number);
if (thresholds.some((t) => !Number.isFinite(t) || t < 0 || t > 1)) fail(`--thresholds: numbers in [0, 1], got "${args.thresholds}"`);
const perTask = intOption("per-task", args["per-task"], 24);
const seed = intOption("seed", args.seed, 1, 0);
const threads = intOption("threads", args.threads, 2);
const dataDir = findDataDir(args["data-dir"]);

const model = await loadModel(await benchmarkModel(args.model), { threads, maxSequences: 1, pull: false, lora: args.lora });
const routers = await model.loadRouters(args.routers);
const routable = model.config.nLayers - routers.config.exempt.length;

// A seeded sample of each source's train prompts (the user turn only).
let state = seed * 2654435761 + 1;
const rand = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const prompts: { source: string; messages: ChatMessage[] }[] = [];
for (const source of MIX_SOURCES) {
  const examples = source.read(dataDir);
  const picked = new Set<number>();
  while (picked.size < Math.min(perTask, examples.length)) picked.add(Math.floor(rand() * examples.length));
  for (const i of picked) {
    const ex = examples[i];
    if ("messages" in ex) prompts.push({ source: source.name, messages: ex.messages.filter((m) => m.role !== "assistant") });
  }
}

interface Cell { threshold: number; source: string; prompts: number; meanSkipped: number; skippedFractionOfRoutable: number; perLayer: number[] }
const cells: Cell[] = [];
for (const t of thresholds) {
  const bySource = new Map<string, number[][]>();
  for (const p of prompts) {
    const r = await model.generate(p.messages, { routers, threshold: t, maxTokens: 1, temperature: 0 }).result;
    bySource.set(p.source, [...(bySource.get(p.source) ?? []), r.skippedLayers]);
  }
  const all: number[][] = [];
  for (const [source, skips] of bySource) {
    all.push(...skips);
    cells.push(summarize(t, source, skips));
  }
  cells.push(summarize(t, "all", all));
  process.stderr.write(`threshold ${t}: ${cells.at(-1)!.meanSkipped.toFixed(2)} layers skipped on average\n`);
}
await model.close();

function summarize(threshold: number, source: string, skips: number[][]): Cell {
  const perLayer = Array.from({ length: model.config.nLayers }, (_, l) => skips.filter((s) => s.includes(l)).length / skips.length);
  const meanSkipped = skips.reduce((a, s) => a + s.length, 0) / skips.length;
  return { threshold, source, prompts: skips.length, meanSkipped, skippedFractionOfRoutable: meanSkipped / routable, perLayer };
}

console.log(
  table(
    ["threshold", "source", "prompts", "mean skipped", "of routable"],
    cells.map((c) => [String(c.threshold), c.source, String(c.prompts), c.meanSkipped.toFixed(2), `${(100 * c.skippedFractionOfRoutable).toFixed(1)}%`]),
    2,
  ),
);
const paths = writeResults(args.out ?? DEFAULT_RESULTS_DIR, "router-thresholds", {
  machine: describeMachine(),
  routers: args.routers,
  lora: args.lora ?? null,
  routable,
  perTask,
  seed,
  cells,
});
console.log(`wrote ${paths.join(", ")}`);
