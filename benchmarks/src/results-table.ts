// Regenerates the README's results section from scratch on this machine:
// `first eval --compare` on a summarization task and the speed benchmark,
// written to benchmarks/results/readme-table.md with the figures beside it
// (quality-vs-speed and skip-heatmap, SVG and PNG) and compare-table.json.
//
//   node benchmarks/dist/results-table.js [--model M] [--task scitldr] [--limit 50] [--max-tokens N]
//        [--routers DIR [--thresholds 0.5]] [--skip 6] [--threads 1,2] [--reps 3]
//        [--prompt-tokens 512] [--gen-tokens 128] [--work DIR] [--data-dir D] [--update-readme README.md]
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { basename, join, relative, resolve } from "node:path";
import {
  loadModel,
} from "@first/core";
import {
  compare,
  parseThresholds,
  tableJson,
  tableMarkdown,
  type CompareRow,
} from "@first/eval";
import {
  runSpeedBench,
  speedTable,
  type SpeedBenchResult,
} from "@first/bench";
import { fail, intListOption, intOption, parseOptions } from "./cli.js";
import { describeMachine, type MachineInfo } from "./machine.js";
import { benchmarkModel } from "./model-path.js";
import { DEFAULT_RESULTS_DIR } from "./results.js";

const USAGE = `usage: node benchmarks/dist/results-table.js [--model M] [--task scitldr] [--limit 50] [--max-tokens N]
       [--routers DIR [--thresholds 0.5]] [--skip 6] [--threads 1,2] [--reps 3] [--prompt-tokens 512]
       [--gen-tokens 128] [--work DIR] [--data-dir D] [--out benchmarks/results] [--update-readme README.md]`;

const args = parseOptions(
  {
    model: { type: "string" },
    task: { type: "string" },
    limit: { type: "string" },
    "max-tokens": { type: "string" },
    routers: { type: "string" },
    thresholds: { type: "string" },
    skip: { type: "string" },
    threads: { type: "string" },
    reps: { type: "string" },
    "prompt-tokens": { type: "string" },
    "gen-tokens": { type: "string" },
    work: { type: "string" },
    "data-dir": { type: "string" },
    out: { type: "string" },
    "update-readme": { type: "string" },
  },
  USAGE,
);

const task = args.task ?? "scitldr";
const limit = intOption("limit", args.limit, 50);
const maxTokens = args["max-tokens"] === undefined ? undefined : intOption("max-tokens", args["max-tokens"], 0);
const skip = intOption("skip", args.skip, 6, 0);
const threads = intListOption("threads", args.threads, [...new Set([1, os.availableParallelism()])]);
const reps = intOption("reps", args.reps, 3);
const promptTokens = intOption("prompt-tokens", args["prompt-tokens"], 512);
const genTokens = intOption("gen-tokens", args["gen-tokens"], 128);
const outDir = resolve(args.out ?? DEFAULT_RESULTS_DIR);

/** Markers around the generated section in the README. */
const README_START = "<!-- results-table:start -->";
const README_END = "<!-- results-table:end -->";

interface SectionInput {
  machine: MachineInfo;
  date: string;
  modelFile: string;
  task: string;
  limit: number;
  rows: CompareRow[];
  nLayers: number;
  routers: string | null;
  speed: SpeedBenchResult;
  /** Path of the figures relative to the README. */
  figuresPath: string;
}

/** The README's results section (Markdown). */
function readmeSection(s: SectionInput): string {
  const m = s.machine;
  const where = `${m.cpuModel} (${m.logicalCpus} logical CPUs, ${m.cpuFlags.join(" ")}), ${m.os}, Node ${m.node}`;
  const layers = s.routers
    ? `FiRST routers from \`${s.routers}\`; each baseline skips as many layers as FiRST did on average (exit:L keeps layers 0..L).`
    : `No routers given: every baseline skips the same number of layers.`;
  const peer = s.speed.peer && "greedyAgreement" in s.speed.peer ? `llama.cpp ${s.speed.peer.llamaCppRelease} through node-llama-cpp ${s.speed.peer.nodeLlamaCppVersion}` : "llama.cpp not run";
  return [
    `Measured on ${s.date.slice(0, 10)} on ${where}.`,
    "",
    `**Quality and speed on ${s.task}** (the first ${s.limit === 1 ? "example" : `${s.limit} examples`} of the evaluation split, greedy decoding), ${s.modelFile}. ${layers}`,
    "",
    tableMarkdown(s.rows, s.nLayers).trimEnd(),
    "",
    `![Quality against decode speed](${s.figuresPath}/quality-vs-speed.png)`,
    "",
    `![Layers skipped per policy](${s.figuresPath}/skip-heatmap.png)`,
    "",
    `**Speed** (prompt of ${s.speed.promptTokens} tokens, ${s.speed.decodeSteps} generated tokens, mean ± standard deviation of ${s.speed.reps} reps; ${peer}):`,
    "",
    speedTable(s.speed).trimEnd(),
    "",
    "Regenerate with `pnpm build && node benchmarks/dist/results-table.js` (roughly 15 to 30 minutes on two cores).",
    "",
  ].join("\n");
}

/** Replaces the text between the markers in `readme` (they must both be there). */
function spliceSection(readme: string, section: string): string {
  const a = readme.indexOf(README_START);
  const b = readme.indexOf(README_END);
  if (a < 0 || b < a) throw new Error(`the README has no ${README_START} ... ${README_END} markers`);
  return `${readme.slice(0, a + README_START.length)}\n${section}${readme.slice(b)}`;
}

async function main(): Promise<void> {
  const modelPath = await benchmarkModel(args.model);
  const machine = describeMachine();
  const date = new Date().toISOString();
  // A fresh working folder unless --work names one to resume in.
  const work = args.work ? resolve(args.work) : mkdtempSync(join(os.tmpdir(), "first-results-"));
  console.error(`model ${modelPath}\ncomparison folder ${work}`);

  const model = await loadModel(modelPath, { maxSequences: 1, pull: false });
  let rows: CompareRow[];
  let nLayers: number;
  try {
    nLayers = model.config.nLayers;
    const routers = args.routers ? await model.loadRouters(args.routers) : undefined;
    const result = await compare(model, {
      tasks: [task],
      dataDir: args["data-dir"],
      routers,
      thresholds: parseThresholds(args.thresholds),
      skip: routers ? undefined : skip,
      limit,
      maxTokens,
      out: work,
      settings: { model: modelPath, routers: args.routers ?? null },
      footnote: `${basename(modelPath)}, ${task} first ${limit} examples, ${model.engine.threads} threads, ${machine.cpuModel}, ${date.slice(0, 10)}`,
      onPolicy: (e) => console.error(`${e.task} ${e.policy}: ${e.state}`),
    });
    rows = result.rows;
  } finally {
    await model.close();
  }

  console.error(`speed benchmark: threads ${threads.join(",")}, ${reps} reps`);
  const speed = await runSpeedBench({
    modelPath,
    threads,
    promptTokens,
    genTokens,
    reps,
    peer: true,
    dataDir: args["data-dir"],
    onProgress: (m) => console.error(m),
  });
  for (const note of speed.notes) console.error(`note: ${note}`);

  mkdirSync(outDir, { recursive: true });
  for (const f of ["quality-vs-speed.svg", "quality-vs-speed.png", "skip-heatmap.svg", "skip-heatmap.png"]) {
    if (existsSync(join(work, f))) copyFileSync(join(work, f), join(outDir, f));
    else console.error(`note: no ${f} (nothing to plot)`);
  }
  writeFileSync(join(outDir, "compare-table.json"), `${JSON.stringify({ date, machine, model: basename(modelPath), task, limit, ...tableJson(rows) }, null, 2)}\n`);
  writeFileSync(join(outDir, "speed-table.json"), `${JSON.stringify({ date, machine, ...speed }, null, 2)}\n`);
  const readmePath = args["update-readme"] ? resolve(args["update-readme"]) : undefined;
  const figuresPath = relative(readmePath ? resolve(readmePath, "..") : outDir, outDir) || ".";
  const section = readmeSection({ machine, date, modelFile: basename(modelPath), task, limit, rows, nLayers, routers: args.routers ?? null, speed, figuresPath });
  writeFileSync(join(outDir, "readme-table.md"), section);
  console.log(section);
  console.error(`wrote ${join(outDir, "readme-table.md")} and the figures in ${outDir}`);
  if (readmePath) {
    if (!existsSync(readmePath)) fail(`${readmePath} does not exist`);
    writeFileSync(readmePath, spliceSection(readFileSync(readmePath, "utf8"), section));
    console.error(`updated ${readmePath}`);
  }
  if (!args.work) rmSync(work, { recursive: true, force: true });
}

main().catch((err: unknown) => fail((err as Error)?.stack ?? String(err)));
