// Scatter plots by hand in SVG: one or more panels side by side, each with
// axes, ticks, grid, axis labels and labelled points; one legend for all.
import { familyColor, policyFamily } from "./colors.js";
import { linear, niceTicks } from "./scale.js";
import { el, esc, svgDocument, text, textWidth, tickLabel } from "./svg.js";

export interface ScatterPoint {
  x: number;
  y: number;
  /** Written next to the point (e.g. the policy name). */
  label: string;
  /** Colour and legend entry (default: the label's policy family). */
  series?: string;
}

export interface ScatterPanel {
  title: string;
  xLabel: string;
  yLabel: string;
  points: ScatterPoint[];
  /** A dashed horizontal reference line (e.g. the full model's quality). */
  referenceY?: { value: number; label: string };
}

export interface ScatterOptions {
  title: string;
  panels: ScatterPanel[];
  /** Size of one panel's plotting area in pixels. */
  panelWidth?: number;
  panelHeight?: number;
  /** A line of small print under the legend (machine, date...). */
  footnote?: string;
}

const MARGIN = { left: 72, right: 24, top: 56, bottom: 56 };
const LABEL_SIZE = 11;

type Box = { x0: number; y0: number; x1: number; y1: number };
const overlaps = (a: Box, b: Box) => a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;

function marker(series: string, x: number, y: number, color: string): string {
  if (series === "full") return el("rect", { x: x - 5, y: y - 5, width: 10, height: 10, fill: color });
  if (series === "first") return el("path", { d: `M${x} ${y - 7}L${x + 7} ${y}L${x} ${y + 7}L${x - 7} ${y}Z`, fill: color });
  return el("circle", { cx: x, cy: y, r: 5, fill: color, "fill-opacity": 0.9 });
}

/** Places a label beside its point where it hits no earlier label nor point and stays inside the plot. */
function placeLabel(label: string, px: number, py: number, taken: Box[], area: Box): { x: number; y: number; anchor: "start" | "end" } {
  const w = textWidth(label, LABEL_SIZE);
  const h = LABEL_SIZE;
  const tries: [number, number, "start" | "end"][] = [
    [px + 8, py - 4, "start"],
    [px + 8, py + h + 2, "start"],
    [px - 8, py - 4, "end"],
    [px - 8, py + h + 2, "end"],
    [px + 8, py - h - 6, "start"],
    [px - 8, py + 2 * h + 4, "end"],
  ];
  const boxOf = ([x, y, a]: [number, number, "start" | "end"]): Box =>
    a === "start" ? { x0: x, y0: y - h, x1: x + w, y1: y + 2 } : { x0: x - w, y0: y - h, x1: x, y1: y + 2 };
  const inside = (b: Box) => b.x0 >= area.x0 && b.x1 <= area.x1 && b.y0 >= area.y0 && b.y1 <= area.y1;
  const pick = tries.find((t) => inside(boxOf(t)) && !taken.some((b) => overlaps(b, boxOf(t)))) ?? tries.find((t) => inside(boxOf(t))) ?? tries[0];
  taken.push(boxOf(pick));
  return { x: pick[0], y: pick[1], anchor: pick[2] };
}

function panelSvg(p: ScatterPanel, ox: number, oy: number, w: number, h: number): string[] {
  const out: string[] = [];
  const xs = p.points.map((q) => q.x);
  const ys = p.points.map((q) => q.y).concat(p.referenceY ? [p.referenceY.value] : []);
  // Some room around the points, without crossing zero when the data do not.
  const pad = (lo: number, hi: number) => {
    const d = (hi - lo) * 0.08 || Math.abs(hi) * 0.05 || 1;
    return [lo >= 0 ? Math.max(0, lo - d) : lo - d, hi + d] as const;
  };
  const xt = niceTicks(...pad(Math.min(...xs), Math.max(...xs)), 6);
  const yt = niceTicks(...pad(Math.min(...ys), Math.max(...ys)), 6);
  const sx = linear(xt.min, xt.max, ox, ox + w);
  const sy = linear(yt.min, yt.max, oy + h, oy);

  out.push(text(ox + w / 2, oy - 18, p.title, { size: 15, anchor: "middle", weight: "bold", className: "panel-title" }));
  // Grid and ticks.
  for (const v of xt.values) {
    const x = sx(v);
    out.push(el("line", { x1: x, y1: oy, x2: x, y2: oy + h, stroke: "#e6e6e6" }));
    out.push(el("line", { x1: x, y1: oy + h, x2: x, y2: oy + h + 5, stroke: "#444" }));
    out.push(text(x, oy + h + 8, tickLabel(v, xt.step), { size: 11, anchor: "middle", baseline: "hanging", className: "tick" }));
  }
  for (const v of yt.values) {
    const y = sy(v);
    out.push(el("line", { x1: ox, y1: y, x2: ox + w, y2: y, stroke: "#e6e6e6" }));
    out.push(el("line", { x1: ox - 5, y1: y, x2: ox, y2: y, stroke: "#444" }));
    out.push(text(ox - 8, y, tickLabel(v, yt.step), { size: 11, anchor: "end", baseline: "middle", className: "tick" }));
  }
  // Axes.
  out.push(el("line", { x1: ox, y1: oy + h, x2: ox + w, y2: oy + h, stroke: "#444", "stroke-width": 1.2, class: "axis x-axis" }));
  out.push(el("line", { x1: ox, y1: oy, x2: ox, y2: oy + h, stroke: "#444", "stroke-width": 1.2, class: "axis y-axis" }));
  out.push(text(ox + w / 2, oy + h + 40, p.xLabel, { size: 13, anchor: "middle", className: "axis-label x-label" }));
  out.push(text(ox - 52, oy + h / 2, p.yLabel, { size: 13, anchor: "middle", rotate: -90, className: "axis-label y-label" }));

  if (p.referenceY) {
    const y = sy(p.referenceY.value);
    out.push(el("line", { x1: ox, y1: y, x2: ox + w, y2: y, stroke: "#888", "stroke-dasharray": "5 4", class: "reference" }));
    out.push(text(ox + w - 4, y - 5, p.referenceY.label, { size: 10, anchor: "end", fill: "#666" }));
  }

  const area: Box = { x0: ox, y0: oy, x1: ox + w, y1: oy + h };
  const taken: Box[] = p.points.map((q) => ({ x0: sx(q.x) - 6, y0: sy(q.y) - 6, x1: sx(q.x) + 6, y1: sy(q.y) + 6 }));
  const seriesOrder: string[] = [];
  for (const q of p.points) {
    const series = q.series ?? policyFamily(q.label);
    if (!seriesOrder.includes(series)) seriesOrder.push(series);
    const color = familyColor(series, seriesOrder.indexOf(series));
    const x = sx(q.x);
    const y = sy(q.y);
    const l = placeLabel(q.label, x, y, taken, area);
    out.push(
      `<g class="point" data-label="${esc(q.label)}">` +
        marker(series, x, y, color) +
        text(l.x, l.y, q.label, { size: LABEL_SIZE, anchor: l.anchor, fill: "#333" }) +
        "</g>",
    );
  }
  return out;
}

export function scatterSvg(o: ScatterOptions): string {
  if (o.panels.length === 0) throw new Error("scatterSvg: no panels");
  for (const p of o.panels) if (p.points.length === 0) throw new Error(`scatterSvg: panel "${p.title}" has no points`);
  const pw = o.panelWidth ?? 520;
  const ph = o.panelHeight ?? 380;
  const cellW = MARGIN.left + pw + MARGIN.right;
  const width = Math.max(cellW * o.panels.length, 480);
  const top = 40;
  const body: string[] = [text(width / 2, 26, o.title, { size: 17, anchor: "middle", weight: "bold", className: "title" })];
  o.panels.forEach((p, i) => body.push(...panelSvg(p, i * cellW + MARGIN.left, top + MARGIN.top, pw, ph)));

  // Legend: one entry per series, in order of first appearance.
  const series: string[] = [];
  for (const p of o.panels) for (const q of p.points) {
    const s = q.series ?? policyFamily(q.label);
    if (!series.includes(s)) series.push(s);
  }
  const legendY = top + MARGIN.top + ph + MARGIN.bottom + 16;
  let x = MARGIN.left;
  let y = legendY;
  const legend: string[] = [];
  series.forEach((s, i) => {
    const w = 22 + textWidth(s, 12) + 18;
    if (x + w > width - MARGIN.right && x > MARGIN.left) {
      x = MARGIN.left;
      y += 20;
    }
    legend.push(marker(s, x + 6, y, familyColor(s, i)) + text(x + 18, y, s, { size: 12, baseline: "middle" }));
    x += w;
  });
  body.push(`<g class="legend">${legend.join("")}</g>`);
  let height = y + 22;
  if (o.footnote) {
    body.push(text(MARGIN.left, height + 4, o.footnote, { size: 10, fill: "#777", className: "footnote" }));
    height += 18;
  }
  return svgDocument(width, height, body, o.title);
}
