// `first eval --compare`: evaluates the full model, FiRST at one or more
// thresholds and the baselines matched to FiRST's executed layers, on one or
// more tasks; writes table.json, table.md and the figures. Each finished
// policy is appended to summaries.jsonl at once, and a rerun with the same
// folder reuses it; examples resume inside a policy through the runner.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { InvalidOptionError, DEFAULT_EXEMPT, type RouterSetData, type LayerPlanSpec } from "@first/core";
import type { EvalResult, EvaluateOptions, MetricName, TaskDefinition } from "../types.js";
import { writeFigures } from "./figures.js";
import { baselinePolicies, BASELINES, firstPolicyName, matchedSkipCount, type Baseline } from "./policies.js";
import { SummaryStore } from "./store.js";
import { claimRunFolder } from "../run-folder.js";
import { rowOf, tableJson, tableMarkdown, type CompareRow } from "./table.js";

/** What a comparison needs of a model. */
export interface CompareModel {
  config: { nLayers: number };
  planFor(policy: string, opts?: { exempt?: number[]; dataDir?: string }): Promise<LayerPlanSpec>;
}

export type Evaluator<M> = (model: M, options: EvaluateOptions) => Promise<EvalResult>;

export interface PolicyEvent {
  task: string;
  policy: string;
  /** running: about to evaluate; done: evaluated now; resumed: read back from summaries.jsonl. */
  state: "running" | "done" | "resumed";
  row?: CompareRow;
}

export interface CompareOptions<M = unknown> {
  /** Registered task names or definitions; each gets its own rows. */
  tasks?: (string | TaskDefinition)[];
  /** A generic JSONL file instead of tasks (see EvaluateOptions.dataFile). */
  dataFile?: string;
  metric?: MetricName;
  dataDir?: string;
  /** FiRST routers; without them the baselines skip `skip` layers. */
  routers?: RouterSetData;
  /**
   * The same model with the LoRA adapter trained beside the routers applied.
   * Adds the rows "first+lora" (routers and adapter) and "full+lora" (the
   * adapter alone, to show what it brings by itself); the other rows use the
   * base model.
   */
  adapted?: M;
  /** FiRST thresholds (default: the checkpoint's). */
  thresholds?: number[];
  /**
   * Layer budgets (executed layers) for FiRST instead of thresholds: rows
   * "first:maxN" (and "first+lora:maxN" with the adapter), each with its
   * matched baselines.
   */
  budgets?: number[];
  /**
   * Adapters trained under a baseline's fixed mask ("uls:9" and its model),
   * like FiRST's own: each adds the row "uls:9+lora", so that FiRST + adapter
   * meets the baseline + adapter on equal terms. A family alone ("uls") adds
   * "uls:k+lora" beside every uls:k the comparison runs.
   */
  baselineAdapters?: { policy: string; model: M; identity?: Record<string, unknown> }[];
  /** Layers the baselines skip when there are no routers. */
  skip?: number;
  baselines?: readonly Baseline[];
  limit?: number;
  maxTokens?: number;
  /** Output folder: summaries.jsonl, runs/<task>/<policy>/, table.json, table.md, figures. */
  out: string;
  /** Anything else that must match for finished policies to be reused (e.g. the model path). */
  settings?: Record<string, unknown>;
  /**
   * What identifies the routers and the adapter (paths, content hashes): part
   * of the settings of the rows that use them, so that after retraining those
   * rows run again while full and the baselines are reused.
   */
  routersIdentity?: Record<string, unknown>;
  adaptedIdentity?: Record<string, unknown>;
  /** Small print under the figures. */
  footnote?: string;
  /** Write the PNG/SVG figures at the end (default true). */
  figures?: boolean;
  onPolicy?: (event: PolicyEvent) => void;
  onExample?: EvaluateOptions["onExample"];
  signal?: AbortSignal;
}

export interface CompareResult {
  rows: CompareRow[];
  /** Paths of table.json, table.md and the figures. */
  files: string[];
}

/** A file- and folder-safe form of a task or policy name. */
export const safeName = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, "-");

function taskLabel(task: string | TaskDefinition): string {
  return typeof task === "string" ? task : task.name;
}

export async function runComparison<M extends CompareModel>(model: M, o: CompareOptions<M>, evaluate: Evaluator<M>): Promise<CompareResult> {
  const nLayers = model.config.nLayers;
  const baselines = o.baselines ?? BASELINES;
  const tasks: (string | TaskDefinition | undefined)[] = o.dataFile !== undefined ? [undefined] : (o.tasks ?? []);
  if (tasks.length === 0) throw new InvalidOptionError("task", "give a task (or a data file) to compare on");
  if (o.routers === undefined && o.skip === undefined)
    throw new InvalidOptionError("skip", "without routers, give the number of layers the baselines skip (--skip k)");
  if (o.routers !== undefined && o.routers.config.nLayers !== nLayers)
    throw new InvalidOptionError("routers", `the routers are for ${o.routers.config.nLayers} layers; the model has ${nLayers}`);
  const exempt = o.routers?.config.exempt ?? DEFAULT_EXEMPT(nLayers);
  const routable = nLayers - exempt.length;
  if (o.skip !== undefined && (o.skip < 0 || o.skip > routable))
    throw new InvalidOptionError("skip", `must be between 0 and ${routable} (the layers that may be skipped); got ${o.skip}`);

  mkdirSync(o.out, { recursive: true });
  const store = new SummaryStore(join(o.out, "summaries.jsonl"));
  const common = { limit: o.limit ?? null, maxTokens: o.maxTokens ?? null, dataFile: o.dataFile ?? null, ...o.settings };
  const rows: CompareRow[] = [];
  const files = [join(o.out, "table.json"), join(o.out, "table.md")];
  const writeTables = () => {
    writeAtomic(files[0], `${JSON.stringify(tableJson(rows), null, 2)}\n`);
    writeAtomic(files[1], tableMarkdown(rows, nLayers));
  };

  for (const task of tasks) {
    const label = task === undefined ? basename(o.dataFile!, extname(o.dataFile!)) : taskLabel(task);
    // threshold is given exactly for the rows that use the routers.
    const run = async (
      policy: string,
      folder: string,
      plan: () => Promise<Partial<EvaluateOptions>>,
      threshold?: number,
      on: M = model,
      onIdentity: Record<string, unknown> | undefined = on !== model ? o.adaptedIdentity : undefined,
      budget?: number,
    ) => {
      const routed = threshold !== undefined || budget !== undefined;
      const settings = {
        ...common,
        ...(threshold !== undefined ? { threshold } : {}),
        ...(budget !== undefined ? { layerBudget: budget } : {}),
        ...(routed && o.routersIdentity ? { routers: o.routersIdentity } : {}),
        ...(onIdentity ? { lora: onIdentity } : {}),
      };
      const finished = store.get(label, policy, settings);
      if (finished) {
        const row = rowOf(finished.summary, policy, finished.threshold);
        row.task = label;
        rows.push(row);
        o.onPolicy?.({ task: label, policy, state: "resumed", row });
        writeTables();
        return row;
      }
      o.signal?.throwIfAborted();
      o.onPolicy?.({ task: label, policy, state: "running" });
      const runDir = join(o.out, "runs", safeName(label), safeName(folder));
      claimRunFolder(runDir, settings, "clear");
      const result = await evaluate(on, {
        ...(task !== undefined ? { task } : { dataFile: o.dataFile, metric: o.metric }),
        dataDir: o.dataDir,
        policy,
        ...(await plan()),
        limit: o.limit,
        maxTokens: o.maxTokens,
        out: runDir,
        onExample: o.onExample,
        signal: o.signal,
      });
      const summary = { ...result.summary, task: label, policy };
      store.add({ task: label, policy, ...(threshold !== undefined ? { threshold } : {}), settings, summary });
      const row = rowOf(summary, policy, threshold);
      rows.push(row);
      o.onPolicy?.({ task: label, policy, state: "done", row });
      writeTables();
      return row;
    };
    const ran = new Set<string>();
    const runBaseline = async (spec: string, adapter?: { model: M; identity?: Record<string, unknown> }) => {
      const name = adapter ? `${spec}+lora` : spec;
      if (ran.has(name)) return;
      ran.add(name);
      const plan = async () => ({ plan: await model.planFor(spec, { exempt, dataDir: o.dataDir }) });
      if (adapter) await run(name, name, plan, undefined, adapter.model, adapter.identity ?? { policy: spec });
      else await run(name, name, plan);
    };
    // An adapter given for a whole family ("uls") serves that baseline at every k the comparison runs.
    const familyAdapters = (o.baselineAdapters ?? []).filter((b) => !b.policy.includes(":"));
    const runBaselines = async (k: number) => {
      for (const spec of baselinePolicies(baselines, k, nLayers)) {
        await runBaseline(spec);
        for (const b of familyAdapters) if (spec.startsWith(`${b.policy}:`)) await runBaseline(spec, b);
      }
    };

    await run("full", "full", async () => ({ plan: { kind: "full" } }));
    const adapted = o.routers !== undefined ? o.adapted : undefined;
    if (adapted !== undefined) await run("full+lora", "full+lora", async () => ({ plan: { kind: "full" } }), undefined, adapted);
    if (o.routers !== undefined && o.budgets !== undefined && o.budgets.length > 0) {
      const routers = o.routers;
      for (const b of o.budgets) {
        await run(`first:max${b}`, `first-max${b}`, async () => ({ routers, layerBudget: b }), undefined, model, undefined, b);
        if (adapted !== undefined)
          await run(`first+lora:max${b}`, `first+lora-max${b}`, async () => ({ routers, layerBudget: b }), undefined, adapted, o.adaptedIdentity, b);
        await runBaselines(matchedSkipCount(b, nLayers, routable));
      }
    } else if (o.routers !== undefined) {
      const routers = o.routers;
      const thresholds = o.thresholds !== undefined && o.thresholds.length > 0 ? o.thresholds : [routers.config.threshold];
      const several = thresholds.length > 1;
      for (const t of thresholds) {
        const name = firstPolicyName(t, several);
        const row = await run(name, `first@${t}`, async () => ({ routers, threshold: t }), t);
        // With an adapter, FiRST's executed layers can differ (the adapter changes the routers' input): match both.
        const rowLora = adapted !== undefined ? await run(`${name}+lora`, `first+lora@${t}`, async () => ({ routers, threshold: t }), t, adapted) : undefined;
        await runBaselines(matchedSkipCount(row.executedLayers, nLayers, routable));
        if (rowLora !== undefined) await runBaselines(matchedSkipCount(rowLora.executedLayers, nLayers, routable));
      }
    } else {
      await runBaselines(o.skip!);
    }
    for (const b of o.baselineAdapters ?? []) if (b.policy.includes(":")) await runBaseline(b.policy, b);
  }

  if (o.figures ?? true) files.push(...writeFigures(o.out, rows, nLayers, { footnote: o.footnote }));
  return { rows, files };
}

/** Writes through a temporary file, so a reader never sees half a table. */
function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}
