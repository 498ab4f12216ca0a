// The comparison's figures: quality against decode speed (one panel per task)
// and a heatmap of the layers each task (or policy) skips.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { heatmapSvg } from "../../plot/heatmap.js";
import { svgToPng } from "../../plot/png.js";
import { scatterSvg, type ScatterPanel } from "../../plot/scatter.js";
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

/** One panel per task: main metric (y) against decode tokens per second (x), a point per policy. */
export function qualityVsSpeedSvg(rows: CompareRow[], opts: { title?: string; footnote?: string } = {}): string {
  const panels: ScatterPanel[] = [];
  for (const task of tasksOf(rows)) {
    const taskRows = rows.filter((r) => r.task === task);
    const metric = mainMetric(Object.assign({}, ...taskRows.map((r) => r.quality)));
    if (metric === undefined) continue;
    const points = taskRows
      .filter((r) => Number.isFinite(r.quality[metric]) && Number.isFinite(r.decodeTokensPerSecond))
      .map((r) => ({ x: r.decodeTokensPerSecond, y: r.quality[metric], label: r.policy }));
    if (points.length === 0) continue;
    const full = taskRows.find((r) => r.policy === "full");
    const label = METRIC_LABELS[metric] ?? metric;
    panels.push({
      title: `${task} (${taskRows[0].examples} examples)`,
      xLabel: "decode speed (tokens/s)",
      yLabel: `${label}${lowerIsBetter(metric) ? " (lower is better)" : ""}`,
      points,
      referenceY: full && Number.isFinite(full.quality[metric]) ? { value: full.quality[metric], label: "full model" } : undefined,
    });
  }
  if (panels.length === 0) throw new Error("no row has both a quality score and a decode speed to plot");
  return scatterSvg({ title: opts.title ?? "Quality against decode speed", panels, footnote: opts.footnote });
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

/** Writes quality-vs-speed.{svg,png} and skip-heatmap.{svg,png} into `dir`; returns the paths. */
export function writeFigures(dir: string, rows: CompareRow[], nLayers: number, opts: { footnote?: string } = {}): string[] {
  const written: string[] = [];
  const figures: [string, string][] = [
    ["quality-vs-speed", qualityVsSpeedSvg(rows, opts)],
    ["skip-heatmap", skipHeatmapSvg(rows, nLayers, opts)],
  ];
  for (const [name, svg] of figures) {
    writeFileSync(join(dir, `${name}.svg`), svg);
    writeFileSync(join(dir, `${name}.png`), svgToPng(svg));
    written.push(join(dir, `${name}.svg`), join(dir, `${name}.png`));
  }
  return written;
}
