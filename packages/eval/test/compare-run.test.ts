// A whole comparison with a stand-in model and evaluator: which policies run,
// with which k, what is written, and that a rerun reuses finished policies.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path, { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { InvalidOptionError, parsePolicy, policyMask, type RouterSetData } from "@first/core";
import { qualityVsSpeedSvg } from "../src/compare/figures.js";
import { runComparison, type CompareModel, type Evaluator } from "../src/compare/run.js";
import type { EvalSummary, EvaluateOptions } from "../src/types.js";

const N = 30;
const model: CompareModel = {
  config: { nLayers: N },
  async planFor(policy, opts) {
    const blockInfluence = Array.from({ length: N }, (_, l) => (l * 7) % 11);
    return { kind: "mask", executed: policyMask(parsePolicy(policy), { nLayers: N, exempt: opts?.exempt, blockInfluence }) };
  },
};

const routers = { config: { nLayers: N, exempt: [0, 1, 29], threshold: 0.5 }, layers: [] } as unknown as RouterSetData;
// FiRST's mean executed layers by threshold: k = 30 - round(...) = 6 at 0.5, 9 at 0.7.
const FIRST_EXECUTED: Record<number, number> = { 0.5: 24.4, 0.7: 21.2 };

function fakeEvaluator() {
  const calls: EvaluateOptions[] = [];
  const evaluate: Evaluator<CompareModel> = async (_m, o) => {
    calls.push(o);
    let executed = N;
    const skipped = new Array<number>(N).fill(0);
    if (o.routers) {
      executed = FIRST_EXECUTED[o.threshold ?? o.routers.config.threshold];
      for (let l = 20; l < 20 + Math.round(N - executed); l++) skipped[l] = 0.8;
    } else if (o.plan?.kind === "mask") {
      o.plan.executed.forEach((e, l) => (skipped[l] = e ? 0 : 1));
      executed = o.plan.executed.filter(Boolean).length;
    }
    const summary: EvalSummary = {
      task: typeof o.task === "string" ? o.task : "data",
      policy: o.policy ?? "?",
      quality: { rouge1: executed / 60, rouge2: executed / 120, rougeL: executed / 80 },
      examples: o.limit ?? 10,
      latency: { prefillMsMedian: 10, decodeMsMedian: 100, msPerOutputToken: executed, decodeTokensPerSecond: 1000 / executed },
      executedLayers: executed,
      skippedLayers: skipped,
      kvBytesPerSequence: executed * 1000,
    };
    return { summary, records: [] };
  };
  return { calls, evaluate };
}

let dir = "";
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});
const tmp = () => (dir = mkdtempSync(join(os.tmpdir(), "first-compare-")));

describe("runComparison", () => {
  it("runs full, FiRST at each threshold and the baselines at FiRST's k", async () => {
    const out = tmp();
    const { calls, evaluate } = fakeEvaluator();
    const r = await runComparison(model, { tasks: ["scitldr"], routers, thresholds: [0.5, 0.7], limit: 3, out }, evaluate);
    expect(r.rows.map((x) => x.policy)).toEqual([
      "full",
      "first@0.5",
      "uls:6", "bi:6", "random:6", "last:6", "exit:23",
      "first@0.7",
      "uls:9", "bi:9", "random:9", "last:9", "exit:20",
    ]);
    expect(calls).toHaveLength(13);
    expect(calls[1]).toMatchObject({ task: "scitldr", policy: "first@0.5", threshold: 0.5, limit: 3, routers });
    expect(calls[2].plan?.kind).toBe("mask");
    // Each policy has its own folder for the runner's per-example resume.
    expect(new Set(calls.map((c) => c.out)).size).toBe(13);
    const table = JSON.parse(readFileSync(join(out, "table.json"), "utf8"));
    expect(table.rows).toHaveLength(13);
    for (const row of table.rows) expect(Object.keys(row.quality)).toEqual(["rouge1", "rouge2", "rougeL"]);
    for (const f of ["table.md", "summaries.jsonl", "quality-vs-speed.svg", "quality-vs-speed.png", "skip-heatmap.svg", "skip-heatmap.png"])
      expect(existsSync(join(out, f)), f).toBe(true);
  });

  it("names the FiRST row plain 'first' with one threshold (the checkpoint's by default)", async () => {
    const { calls, evaluate } = fakeEvaluator();
    const r = await runComparison(model, { tasks: ["scitldr"], routers, baselines: ["uls"], out: tmp(), figures: false }, evaluate);
    expect(r.rows.map((x) => x.policy)).toEqual(["full", "first", "uls:6"]);
    expect(calls[1].threshold).toBe(0.5);
    expect(r.rows[1].threshold).toBe(0.5);
  });

  it("runs first+lora and full+lora on the adapted model, matching baselines to both FiRST rows", async () => {
    const out = tmp();
    const adapted: CompareModel = { ...model };
    const seen: [string, boolean][] = [];
    const { evaluate } = fakeEvaluator();
    const evaluateOn: Evaluator<CompareModel> = async (m, o) => {
      seen.push([o.policy ?? "?", m === adapted]);
      // The adapter changes the routers' decisions: FiRST+LoRA executes more layers than FiRST alone.
      return evaluate(m, m === adapted && o.routers ? { ...o, threshold: 0.5 } : o.routers ? { ...o, threshold: 0.7 } : o);
    };
    const r = await runComparison(model, { tasks: ["scitldr"], routers, adapted, baselines: ["uls"], out }, evaluateOn);
    expect(r.rows.map((x) => [x.policy, x.executedLayers])).toEqual([
      ["full", 30],
      ["full+lora", 30],
      ["first", 21.2],
      ["first+lora", 24.4],
      ["uls:9", 21],
      ["uls:6", 24],
    ]);
    expect(seen).toEqual([["full", false], ["full+lora", true], ["first", false], ["first+lora", true], ["uls:9", false], ["uls:6", false]]);
  });

  it("runs FiRST at layer budgets and baselines with their own adapters on their models", async () => {
    const out = tmp();
    const { evaluate } = fakeEvaluator();
    const adapted: CompareModel = { ...model };
    const ulsAdapted: CompareModel = { ...model };
    const seen: [string, string, number | undefined][] = [];
    const evaluateOn: Evaluator<CompareModel> = async (m, o) => {
      seen.push([o.policy ?? "?", m === adapted ? "first-lora" : m === ulsAdapted ? "uls-lora" : "base", o.layerBudget]);
      // The stand-in reports the budget as executed layers.
      if (o.layerBudget !== undefined) {
        const r = await evaluate(m, { ...o, routers: undefined, plan: { kind: "mask", executed: Array.from({ length: N }, (_, l) => l < o.layerBudget!) } });
        return r;
      }
      return evaluate(m, o);
    };
    const r = await runComparison(model, {
      tasks: ["scitldr"], routers, adapted, budgets: [24, 21], baselines: ["uls"], out,
      baselineAdapters: [{ policy: "uls:9", model: ulsAdapted }],
    }, evaluateOn);
    expect(r.rows.map((x) => x.policy)).toEqual([
      "full", "full+lora", "first:max24", "first+lora:max24", "uls:6", "first:max21", "first+lora:max21", "uls:9", "uls:9+lora",
    ]);
    expect(seen.find((x) => x[0] === "first+lora:max21")).toEqual(["first+lora:max21", "first-lora", 21]);
    expect(seen.find((x) => x[0] === "uls:9+lora")).toEqual(["uls:9+lora", "uls-lora", undefined]);
    expect(r.rows.find((x) => x.policy === "uls:9+lora")!.executedLayers).toBe(21);
    // A rerun reuses every row; another budget list runs only the new budget's rows.
    const again: string[] = [];
    await runComparison(model, { tasks: ["scitldr"], routers, adapted, budgets: [21, 18], baselines: ["uls"], out, baselineAdapters: [{ policy: "uls:9", model: ulsAdapted }] },
      async (m, o) => (again.push(o.policy ?? "?"), evaluateOn(m, o)));
    expect(again).toEqual(["first:max18", "first+lora:max18", "uls:12"]);
    // A family adapter: uls:k+lora beside every uls:k.
    const family = await runComparison(model, { tasks: ["scitldr"], routers, budgets: [24, 21], baselines: ["uls"], out: path.join(out, "family"), baselineAdapters: [{ policy: "uls", model: ulsAdapted }] }, evaluateOn);
    expect(family.rows.map((x) => x.policy)).toEqual(["full", "first:max24", "uls:6", "uls:6+lora", "first:max21", "uls:9", "uls:9+lora"]);
    expect(seen.filter((x) => x[0] === "uls:6+lora").every((x) => x[1] === "uls-lora")).toBe(true);
  });

  it("resumes: policies already in summaries.jsonl are not evaluated again", async () => {
    const out = tmp();
    const first = fakeEvaluator();
    // Interrupted after full and uls:4.
    let n = 0;
    const stop: Evaluator<CompareModel> = async (m, o) => {
      if (n++ === 2) throw new Error("interrupted");
      return first.evaluate(m, o);
    };
    await expect(runComparison(model, { tasks: ["scitldr"], skip: 4, baselines: ["uls", "last"], out }, stop)).rejects.toThrow("interrupted");
    expect(readFileSync(join(out, "summaries.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);

    const second = fakeEvaluator();
    const r = await runComparison(model, { tasks: ["scitldr"], skip: 4, baselines: ["uls", "last"], out }, second.evaluate);
    expect(second.calls.map((c) => c.policy)).toEqual(["last:4"]);
    expect(r.rows.map((x) => x.policy)).toEqual(["full", "uls:4", "last:4"]);

    // Everything finished: a third run evaluates nothing.
    const third = fakeEvaluator();
    await runComparison(model, { tasks: ["scitldr"], skip: 4, baselines: ["uls", "last"], out }, third.evaluate);
    expect(third.calls).toHaveLength(0);
    // Other settings (a different limit) do not reuse the finished lines.
    const fourth = fakeEvaluator();
    await runComparison(model, { tasks: ["scitldr"], skip: 4, baselines: ["uls", "last"], limit: 2, out }, fourth.evaluate);
    expect(fourth.calls).toHaveLength(3);
  });

  it("after retraining the adapter only its rows run again, without reusing their old examples", async () => {
    const out = tmp();
    const adapted: CompareModel = { ...model };
    const opts = { tasks: ["scitldr"], routers, adapted, baselines: ["uls"] as const, out, figures: false, routersIdentity: { sha: "r1" } };
    await runComparison(model, { ...opts, adaptedIdentity: { sha: "a1" } }, fakeEvaluator().evaluate);
    const folder = join(out, "runs", "scitldr", "first-lora-0.5");
    writeFileSync(join(folder, "examples.jsonl"), '{"id":"old"}\n');

    const again = fakeEvaluator();
    await runComparison(model, { ...opts, adaptedIdentity: { sha: "a2" } }, again.evaluate);
    expect(again.calls.map((c) => c.policy)).toEqual(["full+lora", "first+lora"]);
    expect(existsSync(join(folder, "examples.jsonl"))).toBe(false);
    expect(JSON.parse(readFileSync(join(folder, "settings.json"), "utf8"))).toMatchObject({ threshold: 0.5, routers: { sha: "r1" }, lora: { sha: "a2" } });
    // New routers: every row that uses them runs again (with the adapter too), full and the baselines do not.
    const third = fakeEvaluator();
    await runComparison(model, { ...opts, routersIdentity: { sha: "r2" }, adaptedIdentity: { sha: "a2" } }, third.evaluate);
    expect(third.calls.map((c) => c.policy)).toEqual(["first", "first+lora"]);
  });

  it("without routers compares full and the baselines at --skip k", async () => {
    const { evaluate } = fakeEvaluator();
    const r = await runComparison(model, { tasks: ["scitldr"], skip: 6, out: tmp(), figures: false }, evaluate);
    expect(r.rows.map((x) => x.policy)).toEqual(["full", "uls:6", "bi:6", "random:6", "last:6", "exit:23"]);
    expect(r.rows.slice(1).every((x) => x.executedLayers === 24)).toBe(true);
    await expect(runComparison(model, { tasks: ["scitldr"], out: tmp() }, evaluate)).rejects.toThrow(InvalidOptionError);
  });

  it("with several tasks and routers, the heatmap has one row per task", async () => {
    const out = tmp();
    const { evaluate } = fakeEvaluator();
    const r = await runComparison(model, { tasks: ["scitldr", "gsm8k", "wmt_ende"], routers, baselines: ["uls"], out }, evaluate);
    expect(r.rows).toHaveLength(9);
    expect(new Set(r.rows.map((x) => x.task))).toEqual(new Set(["scitldr", "gsm8k", "wmt_ende"]));
    const heat = readFileSync(join(out, "skip-heatmap.svg"), "utf8");
    expect(heat.match(/class="cell"/g)).toHaveLength(3 * N);
    expect(heat.match(/class="row-label"/g)).toHaveLength(3);
    expect(heat).toContain(">gsm8k</text>");
    // One quality-vs-speed panel per task.
    expect(readFileSync(join(out, "quality-vs-speed.svg"), "utf8").match(/class="panel-title"/g)).toHaveLength(3);
  });

  it("leaves out of the speed plot the policies without decode timing, and skips a plot with no point", async () => {
    const { evaluate } = fakeEvaluator();
    const r = await runComparison(model, { tasks: ["scitldr"], skip: 6, baselines: ["uls"], out: tmp(), figures: false }, evaluate);
    r.rows[1].decodeTokensPerSecond = 0;
    const svg = qualityVsSpeedSvg(r.rows)!;
    expect(svg.match(/class="point"/g)).toHaveLength(1);
    expect(svg).toContain("not plotted (no score or no decode timing): uls:6");
    // No policy decoded (likelihood tasks): speed is examples per second of prefill.
    r.rows[0].decodeTokensPerSecond = 0;
    expect(qualityVsSpeedSvg(r.rows)).toContain("prefill speed (examples/s)");
    for (const row of r.rows) row.prefillMsMedian = 0;
    expect(qualityVsSpeedSvg(r.rows)).toBeNull();
  });
});
