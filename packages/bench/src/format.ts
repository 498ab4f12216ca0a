// The speed benchmark's table, laid out like llama-bench's.
import type { SpeedBenchResult } from "./speed.js";

const MiB = 2 ** 20;

function sizeText(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / MiB).toFixed(2)} MiB`;
}

function paramsText(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : `${(n / 1e6).toFixed(2)} M`;
}

/**
 * | model | size | params | engine | backend | threads | test | t/s | of bw limit |, t/s as mean ±
 * standard deviation; the last column (decode rows of our engine) is the bandwidth limit's share
 * of the median step. Then one line per thread count on the bandwidth measured.
 */
export function speedTable(r: SpeedBenchResult): string {
  const header = ["model", "size", "params", "engine", "backend", "threads", "test", "t/s", "of bw limit"];
  const right = [false, true, true, false, false, true, true, true, true];
  const rows = r.rows.map((row) => [
    r.model.name,
    sizeText(r.model.sizeBytes),
    paramsText(r.model.params),
    row.engine === "first" && r.policy !== "full" ? `first ${r.policy}` : row.engine,
    row.engine === "first" ? (row.kernels !== undefined ? `cpu ${row.kernels}` : r.backend) : "cpu",
    String(row.threads),
    row.test,
    `${row.tokensPerSecond.mean.toFixed(2)} ± ${row.tokensPerSecond.stdev.toFixed(2)}`,
    row.bandwidthShare !== undefined ? `${(row.bandwidthShare * 100).toFixed(0)}%` : "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (right[i] ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  const notes: string[] = [];
  if (r.bandwidth) {
    const b = r.bandwidth;
    const mb = (x: number) => (x / 1e6).toFixed(1);
    for (const [t, gbs] of Object.entries(b.gbPerSecond))
      notes.push(
        `${t} thread(s): read bandwidth ${gbs.toFixed(1)} GB/s; a decode step reads ${mb(b.weightBytesPerStep)} MB of weights + ${mb(b.kvBytesPerStep)} MB of KV cache, at least ${b.limitMsPerStep[Number(t)].toFixed(2)} ms`,
      );
  }
  return [line(header), rule, ...rows.map(line), ...(notes.length > 0 ? ["", ...notes] : [])].join("\n") + "\n";
}
