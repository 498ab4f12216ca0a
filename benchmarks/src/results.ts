// Writing benchmark results: a dated JSON file plus a `-latest` copy.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** benchmarks/results, wherever the scripts are run from. */
export const DEFAULT_RESULTS_DIR = fileURLToPath(new URL("../results/", import.meta.url));

/** Writes `<name>-<UTC date and time>.json` and `<name>-latest.json`; returns their paths. */
export function writeResults(dir: string, name: string, data: unknown): string[] {
  const out = resolve(dir);
  mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
  const json = JSON.stringify(data, null, 2) + "\n";
  const paths = [join(out, `${name}-${stamp}.json`), join(out, `${name}-latest.json`)];
  for (const p of paths) writeFileSync(p, json);
  return paths;
}

/** A markdown-style table: the first `textColumns` columns left-aligned, the rest (numbers) right-aligned. */
export function table(header: string[], rows: string[][], textColumns: number): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    "| " + cells.map((c, i) => (i < textColumns ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(" | ") + " |";
  const rule = "|" + widths.map((w, i) => (i < textColumns ? "-".repeat(w + 1) + "-" : "-".repeat(w + 1) + ":")).join("|") + "|";
  return [line(header), rule, ...rows.map(line)].join("\n");
}
