// The comparison's figures: quality against decode speed (one panel per task)
// and a heatmap of the layers each task (or policy) skips.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { heatmapSvg } from "../plot/heatmap.js";
import { svgToPng } from "../plot/png.js";
import { scatterSvg, type ScatterPanel } from "../plot/scatter.js";
import { lowerIsBetter, mainMetric, type CompareRow } from "./table.js";

const METRIC_LABELS: Record<string, string> = {
  rougeL: "ROUGE-L",
  rouge1: "ROUGE-1",
  rouge2: "ROUGE-2",
  bleu: "BLEU",
  chrf: "chrF",
  em: "exact match",
  f1: "F1",
  acc: "accuracy",
  ppl: "perplexity",
};

const tasksOf = (rows: CompareRow[]) => [...new Set(rows.map((r) => r.task))];

/**
 * One panel per task: main metric (y) against decode tokens per second (x), a
 * point per policy; null when no row has both a score and a speed.
 */
export function qualityVsSpeedSvg(rows: CompareRow[], opts: { title?: string; footnote?: string } = {}): string | null {
  const panels: ScatterPanel[] = [];
  const unplotted: string[] = [];
  for (const task of tasksOf(rows)) {
    const taskRows = rows.filter((r) => r.task === task);
    const metric = mainMetric(Object.assign({}, ...taskRows.map((r) => r.quality)));
    if (metric === undefined) continue;
    // Likelihood tasks do not decode: their speed is examples per second of prefill.
    const decodes = taskRows.some((r) => r.decodeTokensPerSecond > 0);
    // A policy whose outputs all ended after one token has no decode timing to place it by.
    const speed = (r: CompareRow) =>
      decodes ? (r.decodeTokensPerSecond > 0 ? r.decodeTokensPerSecond : NaN) : r.prefillMsMedian > 0 ? 1000 / r.prefillMsMedian : NaN;
    const plotted = taskRows.filter((r) => Number.isFinite(r.quality[metric]) && Number.isFinite(speed(r)));
    unplotted.push(...taskRows.filter((r) => !plotted.includes(r)).map((r) => (tasksOf(rows).length > 1 ? `${task} ${r.policy}` : r.policy)));
    const points = plotted.map((r) => ({ x: speed(r), y: r.quality[metric], label: r.policy }));
    if (points.length === 0) continue;
    const full = taskRows.find((r) => r.policy === "full");
    const label = METRIC_LABELS[metric] ?? metric;
    panels.push({
      title: `${task} (${taskRows[0].examples} examples)`,
      xLabel: decodes ? "decode speed (tokens/s)" : "prefill speed (examples/s)",
      yLabel: `${label}${lowerIsBetter(metric) ? " (lower is better)" : ""}`,
      points,
      referenceY: full && Number.isFinite(full.quality[metric]) ? { value: full.quality[metric], label: "full model" } : undefined,
    });
  }
  if (panels.length === 0) return null;
  const missing = unplotted.length > 0 ? `not plotted (no score or no decode timing): ${unplotted.join(", ")}` : undefined;
  const footnote = [opts.footnote, missing].filter((s) => s !== undefined).join("; ") || undefined;
  return scatterSvg({ title: opts.title ?? "Quality against decode speed", panels, footnote });
}

/**
 * Fraction of examples that skipped each layer. Rows: one per task for the
 * FiRST policies when several tasks were run with routers (which layers each
 * task uses); otherwise one per skipping policy.
 */
export function skipHeatmapSvg(rows: CompareRow[], nLayers: number, opts: { title?: string; footnote?: string } = {}): string {
  const tasks = tasksOf(rows);
  const firstRows = rows.filter((r) => r.policy.startsWith("first"));
  const byTask = tasks.length > 1 && firstRows.length > 0;
  const several = new Set(firstRows.map((r) => r.policy)).size > 1;
  const shown = byTask ? firstRows : rows.filter((r) => r.policy !== "full");
  const heatRows = (shown.length > 0 ? shown : rows).map((r) => ({
    label: byTask ? (several ? `${r.task} ${r.policy}` : r.task) : tasks.length > 1 ? `${r.task} ${r.policy}` : r.policy,
    values: Array.from({ length: nLayers }, (_, l) => r.skippedLayers[l] ?? 0),
  }));
  return heatmapSvg({
    title: opts.title ?? (byTask ? "Layers skipped by FiRST, per task" : "Layers skipped, per policy"),
    columns: Array.from({ length: nLayers }, (_, l) => String(l)),
    rows: heatRows,
    xLabel: "decoder layer",
    yLabel: byTask ? "task" : "policy",
    valueLabel: "fraction skipped",
    footnote: opts.footnote,
  });
}

/** Writes quality-vs-speed.{svg,png} (when there is something to plot) and skip-heatmap.{svg,png} into `dir`; returns the paths. */
export function writeFigures(dir: string, rows: CompareRow[], nLayers: number, opts: { footnote?: string } = {}): string[] {
  const written: string[] = [];
  const figures: [string, string | null][] = [
    ["quality-vs-speed", qualityVsSpeedSvg(rows, opts)],
    ["skip-heatmap", skipHeatmapSvg(rows, nLayers, opts)],
  ];
  for (const [name, svg] of figures) {
    if (svg === null) continue;
    writeFileSync(join(dir, `${name}.svg`), svg);
    writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
    written.push(join(dir, `${name}.svg`), join(dir, `${name}.png`));
  }
  return written;
}
