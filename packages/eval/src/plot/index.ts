// Figures written by hand as SVG, rendered to PNG with a bundled font.
export { scatterSvg, type ScatterOptions, type ScatterPanel, type ScatterPoint } from "./scatter.js";
export { heatmapSvg, type HeatmapOptions, type HeatmapRow } from "./heatmap.js";
export { svgToPng, pngSize, fontFiles } from "./png.js";
export { policyFamily } from "./colors.js";
