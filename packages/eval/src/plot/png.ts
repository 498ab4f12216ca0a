// SVG to PNG with resvg (prebuilt binaries from the npm registry). Text uses
// DejaVu Sans from the dejavu-fonts-ttf package, never the system's fonts, so
// a fresh machine renders the same labelled image.
import { createRequire } from "node:module";
import { Resvg } from "@resvg/resvg-js";
import { FONT_FAMILY } from "./svg.js";

const require = createRequire(import.meta.url);

/** The TrueType files the renderer loads. */
export function fontFiles(): string[] {
  return ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) => require.resolve(`dejavu-fonts-ttf/ttf/${f}`));
}

/** Renders an SVG document to PNG bytes; `scale` 2 doubles the pixel size for sharp text. */
export function svgToPng(svg: string, opts: { scale?: number } = {}): Buffer {
  const resvg = new Resvg(svg, {
    fitTo: { mode: "zoom", value: opts.scale ?? 2 },
    background: "#ffffff",
    font: { loadSystemFonts: false, fontFiles: fontFiles(), defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY },
  });
  return resvg.render().asPng();
}

/** Width and height from a PNG's IHDR chunk. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
