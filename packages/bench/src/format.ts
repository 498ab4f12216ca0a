// The speed benchmark's table, laid out like llama-bench's.
import type { SpeedBenchResult } from "./speed.js";

const MiB = 2 ** 20;

function sizeText(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(2)} MiB`;
}

function paramsText(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : `${(n / 1e6).toFixed(2)} M`;
}

/** | model | size | params | engine | backend | threads | test | t/s |, t/s as mean ± standard deviation. */
export function speedTable(r: SpeedBenchResult): string {
  const header = ["model", "size", "params", "engine", "backend", "threads", "test", "t/s"];
  const right = [false, true, true, false, false, true, true, true];
  const rows = r.rows.map((row) => [
    r.model.name,
    sizeText(r.model.sizeBytes),
    paramsText(r.model.params),
    row.engine === "first" && r.policy !== "full" ? `first ${r.policy}` : row.engine,
    row.engine === "first" ? r.backend : "cpu",
    String(row.threads),
    row.test,
    `${row.tokensPerSecond.mean.toFixed(2)} ± ${row.tokensPerSecond.stdev.toFixed(2)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (right[i] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n") + "\n";
}
