// The comparison table: row shape, metric names, table.json and table.md.
import { describe, expect, it } from "vitest";
import { canonicalQuality, mainMetric, rowOf, tableJson, tableMarkdown } from "../src/compare/table.js";
import type { EvalSummary } from "../src/types.js";

function summary(policy: string, quality: Record<string, number>, executed = 30): EvalSummary {
  return {
    task: "scitldr",
    policy,
    quality,
    examples: 4,
    latency: { prefillMsMedian: 12.5, decodeMsMedian: 100, msPerOutputToken: 20, decodeTokensPerSecond: 50 },
    executedLayers: executed,
    skippedLayers: new Array(30).fill(0).map((_, l) => (l >= executed ? 1 : 0)),
    kvBytesPerSequence: 4096 * executed,
  };
}

describe("compare table", () => {
  it("uses the table's metric names: em for exact_match, ppl for perplexity; drops NaN", () => {
    expect(canonicalQuality({ exact_match: 0.5, perplexity: 12, acc: 0.3, bleu: NaN })).toEqual({ em: 0.5, ppl: 12, acc: 0.3 });
  });

  it("picks the headline metric of a task", () => {
    expect(mainMetric({ rouge1: 0.3, rouge2: 0.1, rougeL: 0.2 })).toBe("rougeL");
    expect(mainMetric({ bleu: 20, chrf: 40 })).toBe("bleu");
    expect(mainMetric({ em: 0.2, f1: 0.4 })).toBe("f1");
    expect(mainMetric({ acc: 0.5, acc_norm: 0.6 })).toBe("acc");
    expect(mainMetric({ ppl: 20 })).toBe("ppl");
  });

  it("writes table.json rows with exactly the promised fields", () => {
    const rows = [
      rowOf(summary("full", { rouge1: 0.31234567, rouge2: 0.1, rougeL: 0.2 }), "full"),
      rowOf(summary("first@0.5", { rouge1: 0.3, rouge2: 0.09, rougeL: 0.19 }, 24), "first@0.5", 0.5),
      rowOf(summary("uls:6", { rouge1: 0.2, rouge2: 0.05, rougeL: 0.1 }, 24), "uls:6"),
      rowOf(summary("exit:23", { exact_match: 0.1 }, 24), "exit:23"),
    ];
    const json = JSON.parse(JSON.stringify(tableJson(rows))) as { rows: Record<string, unknown>[] };
    expect(Object.keys(json)).toEqual(["rows"]);
    expect(json.rows.map((r) => r.policy)).toEqual(["full", "first@0.5", "uls:6", "exit:23"]);
    for (const r of json.rows) {
      for (const key of ["policy", "quality", "executedLayers", "decodeTokensPerSecond", "msPerOutputToken", "kvBytesPerSequence"])
        expect(r).toHaveProperty(key);
      expect(typeof r.executedLayers).toBe("number");
      expect(typeof r.decodeTokensPerSecond).toBe("number");
      expect(typeof r.msPerOutputToken).toBe("number");
      expect(typeof r.kvBytesPerSequence).toBe("number");
    }
    expect(json.rows[0].quality).toEqual({ rouge1: 0.3123, rouge2: 0.1, rougeL: 0.2 });
    expect(json.rows[3].quality).toEqual({ em: 0.1 });
    expect(json.rows[1].threshold).toBe(0.5);
    expect(json.rows[1].executedLayers).toBe(24);
    expect(json.rows[1].kvBytesPerSequence).toBe(4096 * 24);
  });

  it("writes a Markdown table with a row per policy and the quality columns in a fixed order", () => {
    const rows = [
      rowOf(summary("full", { rougeL: 0.2, rouge1: 0.3, rouge2: 0.1 }), "full"),
      rowOf(summary("bi:6", { rougeL: 0.1, rouge1: 0.2, rouge2: 0.05 }, 24), "bi:6"),
    ];
    const md = tableMarkdown(rows, 30).trimEnd().split("\n");
    expect(md[0]).toBe("| policy | layers (of 30) | rouge1 | rouge2 | rougeL | decode tok/s | ms/token | KV KiB/seq |");
    expect(md).toHaveLength(4);
    expect(md[2]).toBe("| full | 30.00 | 0.3000 | 0.1000 | 0.2000 | 50.0 | 20.00 | 120 |");
    expect(md[3].startsWith("| bi:6 | 24.00 |")).toBe(true);
  });

  it("adds a task column when rows come from several tasks", () => {
    const a = rowOf(summary("full", { rougeL: 0.2 }), "full");
    const b = { ...rowOf(summary("full", { acc: 0.5 }), "full"), task: "arc_easy" };
    const md = tableMarkdown([a, b], 30).split("\n");
    expect(md[0].startsWith("| task | policy |")).toBe(true);
    expect(md[3]).toContain("| arc_easy | full |");
  });
});
