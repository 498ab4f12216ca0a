// The held-out table of a `first eval --compare` run (or several): per task its
// main metric for full, full+lora, first, first+lora, and uls:k, uls:k+lora, bi:k
// and bi:k+lora at first+lora's executed layers (the columns a run has), with the share of the full model in parentheses; the
// llm_foundry_mc sets as one row, the mean accuracy of those present.
//
//   node benchmarks/dist/heldout-summary.js OUT.md DIR/table.json [DIR2/table.json ...]
import { readFileSync, writeFileSync } from "node:fs";
import { fail } from "./cli.js";

interface Row {
  task: string;
  policy: string;
  quality: Record<string, number>;
  executedLayers: number;
}

const MAIN: Record<string, string> = {
  self_instruct_eval: "rougeL",
  tatoeba_laser: "chrf",
  nq_openbook_short: "f1",
  triviaqa_sm_sub: "f1",
  lambada_openai: "acc",
  llm_foundry_mc: "acc",
};

const [outPath, ...inputs] = process.argv.slice(2);
if (!outPath || inputs.length === 0) fail("usage: node benchmarks/dist/heldout-summary.js OUT.md TABLE.json [TABLE.json ...]");
const rows: Row[] = inputs.flatMap((p) => (JSON.parse(readFileSync(p, "utf8")) as { rows: Row[] }).rows);

// Per task group (llm_foundry_mc:<set> -> llm_foundry_mc) and column: the metric's values.
const allColumns = ["full", "full+lora", "first", "first+lora", "uls:k", "uls:k+lora", "bi:k", "bi:k+lora"];
const cells = new Map<string, Map<string, { values: number[]; note?: string }>>();
const byTask = new Map<string, Row[]>();
for (const r of rows) byTask.set(r.task, [...(byTask.get(r.task) ?? []), r]);
for (const [task, taskRows] of byTask) {
  const group = task.split(":")[0];
  const metric = MAIN[group];
  if (!metric) continue;
  const firstLora = taskRows.find((r) => r.policy.startsWith("first+lora"));
  const k = firstLora ? Math.round(30 - firstLora.executedLayers) : -1;
  const g = cells.get(group) ?? new Map<string, { values: number[]; note?: string }>();
  for (const r of taskRows) {
    const fixed = /^(uls|bi):(\d+)(\+lora)?$/.exec(r.policy);
    const column = fixed ? (Number(fixed[2]) === k ? `${fixed[1]}:k${fixed[3] ?? ""}` : null) : r.policy.replace(/-[\d.]+$/, "");
    if (!column || !allColumns.includes(column)) continue;
    const cell = g.get(column) ?? { values: [] };
    cell.values.push(r.quality[metric]);
    if (column !== "full" && column !== "full+lora") cell.note = `${r.executedLayers.toFixed(1)} layers`;
    g.set(column, cell);
  }
  cells.set(group, g);
}

const columns = allColumns.filter((c) => [...cells.values()].some((g) => g.has(c)));
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const lines = [`| task (metric) | ${columns.join(" | ")} |`, `|:--|${columns.map(() => "--:").join("|")}|`];
for (const [group, g] of cells) {
  const full = g.get("full");
  if (!full) continue;
  const base = mean(full.values);
  const label = group === "llm_foundry_mc" ? `llm_foundry_mc (mean acc of ${full.values.length} sets)` : `${group} (${MAIN[group]})`;
  const cellText = (c: string) => {
    const cell = g.get(c);
    if (!cell) return "—";
    const v = mean(cell.values);
    const share = c === "full" ? "" : ` (${Math.round((100 * v) / base)}%)`;
    const layers = cell.note && group !== "llm_foundry_mc" ? `, ${cell.note}` : "";
    return `${v.toFixed(4)}${share}${layers}`;
  };
  lines.push(`| ${label} | ${columns.map(cellText).join(" | ")} |`);
}
writeFileSync(outPath, lines.join("\n") + "\n");
console.log(lines.join("\n"));
