// Small helpers for writing SVG by hand: escaping, elements, text and number
// formatting. Every figure uses one font family, which the PNG renderer ships.

export const FONT_FAMILY = "DejaVu Sans";

/** Escapes text for SVG content and attribute values. */
export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

type Attrs = Record<string, string | number | undefined>;

function attrs(a: Attrs): string {
  return Object.entries(a)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${esc(typeof v === "number" ? fmt(v) : v!)}"`)
    .join("");
}

/** A number written compactly for coordinates (at most 2 decimals). */
export function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

export function el(name: string, a: Attrs, children?: string): string {
  return children === undefined ? `<${name}${attrs(a)}/>` : `<${name}${attrs(a)}>${children}</${name}>`;
}

export interface TextOptions {
  size?: number;
  anchor?: "start" | "middle" | "end";
  weight?: "normal" | "bold";
  fill?: string;
  /** Degrees, about (x, y). */
  rotate?: number;
  className?: string;
  /** Vertical placement relative to y. */
  baseline?: "alphabetic" | "middle" | "hanging";
}

export function text(x: number, y: number, content: string, o: TextOptions = {}): string {
  // resvg and browsers agree on dominant-baseline "central" less than on a dy shift, so shift by hand.
  const size = o.size ?? 12;
  const dy = o.baseline === "middle" ? size * 0.35 : o.baseline === "hanging" ? size * 0.8 : 0;
  return el(
    "text",
    {
      x,
      y: y + dy,
      "font-size": size,
      "text-anchor": o.anchor ?? "start",
      "font-weight": o.weight === "bold" ? "bold" : undefined,
      fill: o.fill ?? "#222",
      transform: o.rotate ? `rotate(${fmt(o.rotate)} ${fmt(x)} ${fmt(y)})` : undefined,
      class: o.className,
    },
    esc(content),
  );
}

/** Approximate width of a line of text in DejaVu Sans, for layout. */
export function textWidth(s: string, size: number): number {
  return s.length * size * 0.62;
}

/** The outer <svg> element with a white background. */
export function svgDocument(width: number, height: number, body: string[], title: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${fmt(width)}" height="${fmt(height)}" viewBox="0 0 ${fmt(width)} ${fmt(height)}" font-family="${FONT_FAMILY}, sans-serif">`,
    `<title>${esc(title)}</title>`,
    el("rect", { x: 0, y: 0, width, height, fill: "#ffffff" }),
    ...body,
    "</svg>",
    "",
  ].join("\n");
}

/** A tick label: enough decimals to tell neighbouring ticks apart, no trailing zeros. */
export function tickLabel(v: number, step: number): string {
  const decimals = Math.max(0, Math.min(6, -Math.floor(Math.log10(Math.abs(step)) + 1e-9)));
  return v.toFixed(decimals);
}
