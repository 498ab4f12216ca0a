// `first eval --compare`: the full model, FiRST at one or more thresholds and
// the layer-skipping baselines matched to FiRST's executed layers, on one or
// more tasks. Writes table.md, table.json, summaries.jsonl (resumable) and the
// figures quality-vs-speed and skip-heatmap (SVG and PNG) to --out.
import { existsSync } from "node:fs";
import { basename, join } from "node:path";
import os from "node:os";
import {
  shippedRoutersFor,
} from "@first/core";
import {
  compare,
  checkpointIdentity,
  getTask,
  parseBaselines,
  parseThresholds,
  tableJson,
  tableMarkdown,
  TASKS,
  type MetricName,
  type PolicyEvent,
} from "@first/eval";
import { UsageError, type FlagSpec } from "../args.js";
import { formatDuration } from "../progress.js";
import { openModel } from "./generation-flags.js";

/** Flags `first eval` adds for --compare. */
export const compareFlags = {
  compare: { type: "boolean", help: "compare full, FiRST (--routers) and the baselines; tables and figures go to --out" },
  thresholds: { type: "string", help: "--compare: FiRST thresholds, e.g. 0.3,0.5,0.7 (default: the checkpoint's)", valueName: "list" },
  baselines: { type: "string", help: "--compare: baselines among uls,bi,random,last,exit (default: all)", valueName: "list" },
  skip: { type: "int", help: "--compare without routers: layers each baseline skips (default: 20% of the layers)", min: 0, valueName: "k" },
  budgets: { type: "string", help: "--compare: FiRST at layer budgets instead of thresholds, e.g. 27,24,21,18 (rows first:maxN)", valueName: "list" },
  baselineLora: { type: "string", help: "--compare: adapters trained under baseline masks, e.g. uls:9=DIR,bi:9=DIR (rows uls:9+lora, ...); uls=DIR: beside every uls:k", valueName: "list" },
} as const satisfies Record<string, FlagSpec>;

export const DEFAULT_COMPARE_OUT = "first-compare";

export interface CompareFlagValues {
  model: string;
  threads?: number;
  ctx?: number;
  task?: string;
  data?: string;
  metric?: string;
  policy?: string;
  routers?: string;
  lora?: string;
  threshold?: number;
  dataDir?: string;
  limit?: number;
  maxTokens?: number;
  out?: string;
  json: boolean;
  thresholds?: string;
  baselines?: string;
  skip?: number;
  budgets?: string;
  baselineLora?: string;
  maxLayers?: number;
}

/** "uls:9=runs/uls9/lora,bi:9=dir" -> [{policy, dir}]. */
export function parseBaselineLora(list: string | undefined): { policy: string; dir: string }[] {
  if (list === undefined) return [];
  return list.split(",").map((s) => s.trim()).filter(Boolean).map((part) => {
    const eq = part.indexOf("=");
    if (eq <= 0 || eq === part.length - 1) throw new UsageError(`--baseline-lora: expected policy=DIR, got "${part}"`);
    const policy = part.slice(0, eq), dir = part.slice(eq + 1);
    if (!existsSync(join(dir, "adapter_config.json"))) throw new UsageError(`--baseline-lora: ${dir} has no adapter_config.json`);
    return { policy, dir };
  });
}

/** "27,24,21" -> [27, 24, 21]. */
export function parseBudgets(list: string | undefined, single?: number): number[] {
  if (list !== undefined && single !== undefined) throw new UsageError("give --budgets or --max-layers, not both");
  if (single !== undefined) return [single];
  if (list === undefined) return [];
  const values = list.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < 1)) throw new UsageError(`--budgets: give layer counts, e.g. 27,24,21; got "${list}"`);
  return [...new Set(values)];
}

/** Checks the flags of a comparison; returns the task names and the thresholds. */
export function compareSettings(f: CompareFlagValues): { tasks: string[]; thresholds: number[] } {
  if ((f.task === undefined) === (f.data === undefined)) throw new UsageError("give --task NAME[,NAME...] or --data FILE");
  if (f.policy !== undefined) throw new UsageError("--compare runs its own policies; leave out --policy (use --baselines and --skip)");
  if (f.metric !== undefined && f.data === undefined) throw new UsageError("--metric applies to --data (tasks have their own metrics)");
  if (f.thresholds !== undefined && f.threshold !== undefined) throw new UsageError("give --thresholds or --threshold, not both");
  if (f.routers === undefined) {
    if (f.thresholds !== undefined || f.threshold !== undefined) throw new UsageError("--thresholds applies to --routers");
  } else if (f.skip !== undefined) {
    throw new UsageError("--skip is for comparisons without --routers (with routers, k follows FiRST's executed layers)");
  }
  const tasks = f.task === undefined ? [] : f.task.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  for (const t of tasks) {
    try {
      getTask(t);
    } catch {
      throw new UsageError(`unknown task "${t}"; tasks: ${TASKS.map((x) => x.name).join(", ")}, llm_foundry_mc:<set>`);
    }
  }
  let thresholds: number[];
  try {
    thresholds = parseThresholds(f.thresholds ?? (f.threshold !== undefined ? String(f.threshold) : undefined));
    parseBaselines(f.baselines);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return { tasks, thresholds };
}

/** Runs `first eval --compare`; resolves to the exit code. */
export async function runCompare(flags: CompareFlagValues, signal: AbortSignal): Promise<number> {
  const { tasks, thresholds } = compareSettings(flags);
  const budgets = parseBudgets(flags.budgets, flags.maxLayers);
  if (budgets.length > 0 && (flags.thresholds !== undefined || flags.threshold !== undefined)) throw new UsageError("give thresholds or budgets, not both");
  const baselineLora = parseBaselineLora(flags.baselineLora);
  const baselineModels: { policy: string; model: Awaited<ReturnType<typeof openModel>>; identity: Record<string, unknown> }[] = [];
  const out = flags.out ?? DEFAULT_COMPARE_OUT;
  // The base model serves every row but the adapter's (see "adapted" below).
  const model = await openModel({ ...flags, lora: undefined });
  let adapted: Awaited<ReturnType<typeof openModel>> | undefined;
  try {
    // Without --routers or --skip: the shipped routers made for this model, else 20% of the layers.
    let routersDir = flags.routers;
    let skip = flags.skip;
    if (routersDir === undefined && skip === undefined) {
      routersDir = shippedRoutersFor(await model.identity())[0];
      if (routersDir !== undefined) process.stderr.write(`using the routers in ${routersDir}\n`);
      else {
        skip = Math.round(0.2 * model.config.nLayers);
        process.stderr.write(`no routers for this model: comparing the baselines at --skip ${skip}\n`);
      }
    }
    const routers = routersDir !== undefined ? await model.loadRouters(routersDir) : undefined;
    if (flags.lora !== undefined && routersDir === undefined) throw new UsageError("--lora in --compare is the adapter trained with the routers; give --routers too");
    // The LoRA adapter trained with the routers: --lora, else <routers>/lora when it is there.
    const loraDir = flags.lora ?? (routersDir !== undefined && existsSync(join(routersDir, "lora", "adapter_config.json")) ? join(routersDir, "lora") : undefined);
    if (loraDir !== undefined) {
      process.stderr.write(`FiRST rows also run with the LoRA adapter in ${loraDir} (first+lora, full+lora)\n`);
      adapted = await openModel({ ...flags, lora: loraDir });
    }
    for (const b of baselineLora) {
      process.stderr.write(`row ${b.policy}+lora runs with the adapter in ${b.dir}\n`);
      baselineModels.push({ policy: b.policy, model: await openModel({ ...flags, lora: b.dir }), identity: { policy: b.policy, ...(await checkpointIdentity(b.dir)) } });
    }
    if (budgets.length > 0 && routers === undefined) throw new UsageError("--budgets needs routers");
    const started = Date.now();
    const progress = policyProgress();
    const limitText = flags.limit !== undefined ? `first ${flags.limit} examples` : "all examples";
    const result = await compare(model, {
      tasks: flags.data === undefined ? tasks : undefined,
      dataFile: flags.data,
      metric: flags.metric as MetricName | undefined,
      dataDir: flags.dataDir,
      routers,
      adapted,
      thresholds,
      budgets,
      baselineAdapters: baselineModels,
      skip,
      baselines: parseBaselines(flags.baselines),
      limit: flags.limit,
      maxTokens: flags.maxTokens,
      out,
      settings: { model: model.path },
      routersIdentity: routersDir !== undefined ? await checkpointIdentity(routersDir) : undefined,
      adaptedIdentity: loraDir !== undefined ? await checkpointIdentity(loraDir) : undefined,
      footnote: `${basename(model.path)}, ${limitText}, ${model.engine.threads} threads, ${os.cpus()[0]?.model ?? "CPU"}, ${new Date().toISOString().slice(0, 10)}`,
      onPolicy: progress.policy,
      onExample: (_r, p) => progress.example(p.done, p.total),
      signal,
    });
    progress.end();
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ ...tableJson(result.rows), files: result.files })}\n`);
    } else {
      process.stdout.write(`\n${tableMarkdown(result.rows, model.config.nLayers)}\n`);
      process.stdout.write(`wrote ${result.files.join(", ")} in ${formatDuration((Date.now() - started) / 1000)}\n`);
    }
    return 0;
  } finally {
    await model.close();
    await adapted?.close();
    for (const b of baselineModels) await b.model.close();
  }
}

/** One line per policy on stderr, and the examples done (redrawn on a terminal). */
function policyProgress() {
  const stream = process.stderr;
  const tty = stream.isTTY === true;
  let label = "";
  let drawn = false;
  const clear = () => {
    if (drawn) stream.write("\r\x1b[K");
    drawn = false;
  };
  return {
    policy(e: PolicyEvent) {
      clear();
      label = `${e.task} ${e.policy}`;
      if (e.state === "running") stream.write(`${label}: running\n`);
      else {
        const q = Object.entries(e.row?.quality ?? {}).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(" ");
        const layers = e.row ? `${e.row.executedLayers.toFixed(1)} layers` : "";
        stream.write(`${label}: ${e.state === "resumed" ? "already done" : "done"}; ${layers}; ${q}\n`);
      }
    },
    example(done: number, total: number) {
      if (!tty) return;
      stream.write(`\r${label}: ${done}/${total}\x1b[K`);
      drawn = true;
    },
    end: clear,
  };
}
