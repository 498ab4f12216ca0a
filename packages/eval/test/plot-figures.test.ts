// Hand-written SVG figures and their PNG rendering.
import { describe, expect, it } from "vitest";
import { heatmapSvg } from "../src/plot/heatmap.js";
import { pngSize, svgToPng } from "../src/plot/png.js";
import { niceTicks } from "../src/plot/scale.js";
import { scatterSvg } from "../src/plot/scatter.js";

const points = [
  { x: 42, y: 0.31, label: "full" },
  { x: 55, y: 0.29, label: "first" },
  { x: 54, y: 0.22, label: "uls:6" },
  { x: 53, y: 0.25, label: "bi:6" },
  { x: 56, y: 0.12, label: "exit:23" },
];
const scatter = () =>
  scatterSvg({
    title: "Quality against decode speed",
    panels: [{ title: "scitldr", xLabel: "decode speed (tokens/s)", yLabel: "ROUGE-L", points, referenceY: { value: 0.31, label: "full model" } }],
    footnote: "a <test> & more",
  });

describe("plots", () => {
  it("chooses round tick steps that cover the range", () => {
    expect(niceTicks(0, 1, 5)).toMatchObject({ min: 0, max: 1, step: 0.2 });
    expect(niceTicks(42, 56, 6).values).toEqual([40, 45, 50, 55, 60]);
    expect(niceTicks(42, 56, 8).values).toEqual([42, 44, 46, 48, 50, 52, 54, 56]);
    const t = niceTicks(0.113, 0.317, 6);
    expect(t.min).toBeLessThanOrEqual(0.113);
    expect(t.max).toBeGreaterThanOrEqual(0.317);
  });

  it("scatter: axes, axis labels, ticks, one labelled point per row and a legend", () => {
    const svg = scatter();
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain('class="axis x-axis"');
    expect(svg).toContain('class="axis y-axis"');
    expect(svg).toMatch(/class="axis-label x-label"[^>]*>decode speed \(tokens\/s\)</);
    expect(svg).toMatch(/class="axis-label y-label"[^>]*>ROUGE-L</);
    expect(svg.match(/class="point"/g)).toHaveLength(points.length);
    for (const p of points) expect(svg).toContain(`data-label="${p.label}"`);
    expect(svg.match(/class="tick"/g)!.length).toBeGreaterThanOrEqual(6);
    expect(svg).toContain('class="legend"');
    expect(svg).toContain("a &lt;test&gt; &amp; more");
  });

  it("heatmap: one cell per layer and row, row labels, axis labels and a colour bar", () => {
    const rows = ["scitldr", "gsm8k", "wmt_ende"].map((label, i) => ({ label, values: Array.from({ length: 30 }, (_, l) => ((l + i) % 5) / 4) }));
    const svg = heatmapSvg({
      title: "Layers skipped",
      columns: Array.from({ length: 30 }, (_, l) => String(l)),
      rows,
      xLabel: "decoder layer",
      yLabel: "task",
      valueLabel: "fraction skipped",
    });
    expect(svg.match(/class="cell"/g)).toHaveLength(30 * 3);
    expect(svg.match(/class="row-label"/g)).toHaveLength(3);
    expect(svg).toMatch(/class="axis-label x-label"[^>]*>decoder layer</);
    expect(svg).toMatch(/class="axis-label y-label"[^>]*>task</);
    expect(svg).toContain('class="color-bar"');
    expect(() => heatmapSvg({ title: "", columns: ["0", "1"], rows: [{ label: "a", values: [1] }], xLabel: "", yLabel: "", valueLabel: "" })).toThrow(/2 columns/);
  });

  it("renders a PNG at twice the SVG's size", () => {
    const svg = scatter();
    const [, w, h] = /width="([\d.]+)" height="([\d.]+)"/.exec(svg)!.map(Number);
    const png = svgToPng(svg);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(pngSize(png)).toEqual({ width: Math.ceil(w * 2), height: Math.ceil(h * 2) });
    // Text is drawn (the bundled font is found): a figure with labels has many more distinct bytes than one without.
    const blank = svgToPng(svg.replace(/<text[^]*?<\/text>/g, ""));
    expect(png.length).toBeGreaterThan(blank.length * 1.5);
  });
});
