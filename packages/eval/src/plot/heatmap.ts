// A heatmap by hand in SVG: one cell per (row, column), coloured by a value
// in [0, 1], with axis labels, a label per row and column, and a colour bar.
import { sequentialColor } from "./colors.js";
import { el, esc, svgDocument, text, textWidth } from "./svg.js";

export interface HeatmapRow {
  label: string;
  /** One value in [0, 1] per column. */
  values: number[];
}

export interface HeatmapOptions {
  title: string;
  columns: string[];
  rows: HeatmapRow[];
  xLabel: string;
  yLabel: string;
  /** Caption of the colour bar. */
  valueLabel: string;
  footnote?: string;
}

export function heatmapSvg(o: HeatmapOptions): string {
  if (o.rows.length === 0 || o.columns.length === 0) throw new Error("heatmapSvg: nothing to draw");
  for (const r of o.rows)
    if (r.values.length !== o.columns.length)
      throw new Error(`heatmapSvg: row "${r.label}" has ${r.values.length} values for ${o.columns.length} columns`);

  const cw = Math.max(14, Math.min(30, 840 / o.columns.length));
  const ch = Math.max(22, Math.min(34, 360 / o.rows.length));
  const labelW = Math.max(...o.rows.map((r) => textWidth(r.label, 12))) + 12;
  const left = 40 + labelW;
  const top = 62;
  const gridW = cw * o.columns.length;
  const gridH = ch * o.rows.length;
  const barX = left + gridW + 28;
  const barH = Math.max(gridH, 120);
  const width = barX + 16 + 60;
  const body: string[] = [text(width / 2, 28, o.title, { size: 17, anchor: "middle", weight: "bold", className: "title" })];

  o.rows.forEach((r, i) => {
    const y = top + i * ch;
    body.push(text(left - 8, y + ch / 2, r.label, { size: 12, anchor: "end", baseline: "middle", className: "row-label" }));
    r.values.forEach((v, j) => {
      const x = left + j * cw;
      body.push(
        el(
          "rect",
          { x, y, width: cw, height: ch, fill: sequentialColor(v), stroke: "#ffffff", "stroke-width": 0.5, class: "cell" },
          `<title>${esc(`${r.label}, ${o.columns[j]}: ${v.toFixed(3)}`)}</title>`,
        ),
      );
    });
  });
  body.push(el("rect", { x: left, y: top, width: gridW, height: gridH, fill: "none", stroke: "#444", "stroke-width": 1 }));

  // Column labels under the grid; every other one when cells are narrow.
  const every = cw < 16 ? 2 : 1;
  o.columns.forEach((c, j) => {
    if (j % every !== 0) return;
    const x = left + j * cw + cw / 2;
    body.push(el("line", { x1: x, y1: top + gridH, x2: x, y2: top + gridH + 4, stroke: "#444" }));
    body.push(text(x, top + gridH + 7, c, { size: 10, anchor: "middle", baseline: "hanging", className: "tick" }));
  });
  body.push(text(left + gridW / 2, top + gridH + 38, o.xLabel, { size: 13, anchor: "middle", className: "axis-label x-label" }));
  body.push(text(16, top + gridH / 2, o.yLabel, { size: 13, anchor: "middle", rotate: -90, baseline: "middle", className: "axis-label y-label" }));

  // Colour bar: 0 at the bottom, 1 at the top.
  body.push(
    `<defs><linearGradient id="heat" x1="0" y1="1" x2="0" y2="0">` +
      [0, 0.25, 0.5, 0.75, 1].map((t) => `<stop offset="${t}" stop-color="${sequentialColor(t)}"/>`).join("") +
      `</linearGradient></defs>`,
  );
  body.push(el("rect", { x: barX, y: top, width: 16, height: barH, fill: "url(#heat)", stroke: "#444", class: "color-bar" }));
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + barH * (1 - t);
    body.push(el("line", { x1: barX + 16, y1: y, x2: barX + 20, y2: y, stroke: "#444" }));
    body.push(text(barX + 23, y, t.toFixed(2), { size: 10, baseline: "middle", className: "tick" }));
  }
  body.push(text(barX + 8, top - 10, o.valueLabel, { size: 11, anchor: "middle", className: "color-label" }));

  let height = top + Math.max(gridH + 50, barH + 20);
  if (o.footnote) {
    body.push(text(left, height + 6, o.footnote, { size: 10, fill: "#777", className: "footnote" }));
    height += 18;
  }
  return svgDocument(Math.max(width, textWidth(o.title, 17) + 40), height + 8, body, o.title);
}
