// The FiRST flags as a user runs them on a tiny model: --max-layers and
// --skip-ratio with routers (exact executed layers, usage errors with exit 2),
// --first where no set ships, run --vs-full, bench --lora (the trade-off
// rows), and first distill (written, then continued without repeating).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";
import { LORA_MODULE_NAMES, moduleDims, writePeftAdapter } from "../../core/src/lora/peft.js";
import { saveRouters } from "../../core/src/routers/checkpoint.js";
import { fileSha256 } from "../../core/src/routers/model-identity.js";
import { requireBuiltCli, runCli } from "./support/cli.js";

let dir = "";
let model = "";
let routersDir = "";
const first = (args: string[]) => runCli(args, { home: dir, input: "", timeout: 120_000 });

beforeAll(async () => {
  requireBuiltCli();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "first-cli-budget-"));
  model = makeTinyLlama(path.join(dir, "tiny.gguf"), { layers: 6, seed: 3 }).path;
  const d = 64;
  // Routable layers 1..4 with p ranking 2 < 4 < 3 < 1 for any input.
  const bias = [0, 3, -1, 2, 0.5, 0];
  const routers = {
    config: { kind: "linear" as const, dModel: d, hidden: 0, nLayers: 6, exempt: [0, 5], threshold: 0.5, normEps: 1e-5 },
    layers: bias.map((b, l) => (l === 0 || l === 5 ? null : { fcWeight: new Float32Array(d), fcBias: b })),
  };
  routersDir = path.join(dir, "routers");
  saveRouters(routersDir, routers, { architecture: "llama", nLayers: 6, dModel: d, sha256: await fileSha256(model) });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = (extra: string[]) =>
  first(["run", "--model", model, "--prompt", "hello world", "--json", "--temperature", "0", "-n", "4", "--threads", "1", ...extra]);

describe("layer budgets on the command line", () => {
  it("--max-layers runs exactly that many layers, the routers' lowest skipped; --skip-ratio likewise", () => {
    for (const [budget, skipped] of [["5", [2]], ["3", [2, 3, 4]]] as const) {
      const r = run(["--routers", routersDir, "--max-layers", budget]);
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.executedLayers).toBe(Number(budget));
      expect(out.skippedLayers).toEqual(skipped);
    }
    const ratio = JSON.parse(run(["--routers", routersDir, "--skip-ratio", "0.5"]).stdout);
    expect(ratio.skippedLayers).toEqual([2, 4]);
  });

  it("refuses budgets that do not apply, with exit 2 and a message", () => {
    const cases: [string[], RegExp][] = [
      [["--max-layers", "3"], /need routers/],
      [["--routers", routersDir, "--max-layers", "1"], /2 layers always run/],
      [["--routers", routersDir, "--max-layers", "7"], /the model has 6 layers/],
      [["--routers", routersDir, "--max-layers", "4", "--threshold", "0.5"], /replaces the threshold/],
      [["--routers", routersDir, "--max-layers", "4", "--skip-ratio", "0.2"], /not both/],
      [["--first"], /no FiRST set ships/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it("--vs-full times the plain model on the same prompt", () => {
    const r = run(["--routers", routersDir, "--max-layers", "4", "--vs-full"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.executedLayers).toBe(4);
    expect(out.full.executedLayers).toBe(6);
    expect(out.full.timings.decodeTokensPerSecond).toBeGreaterThan(0);
    // The speeds compared are medians of alternating repeat runs.
    expect(out.comparison.reps).toBe(5);
    expect(out.comparison.tokens).toBe(64);
    expect(out.comparison.decodeTokensPerSecond.this).toBeGreaterThan(0);
    expect(out.comparison.decodeTokensPerSecond.full).toBeGreaterThan(0);
    expect(out.comparison.decodeSpeedup).toBeCloseTo(out.comparison.decodeTokensPerSecond.this / out.comparison.decodeTokensPerSecond.full, 9);
    const text = first(["run", "--model", model, "--prompt", "hello", "--temperature", "0", "-n", "4", "--threads", "1", "--routers", routersDir, "--max-layers", "4", "--vs-full"]);
    expect(text.code).toBe(0);
    expect(text.stderr).toMatch(/layers: 4\/6/);
    expect(text.stderr).toMatch(/full model: .* layers 6\/6\ndecode speed-up \d+\.\d+x \(median of 5 runs of each/);
  });
});

describe("bench --lora: the FiRST trade-off", () => {
  it("times full, first and uls:k, each with and without the adapter, on one engine", () => {
    const loraDir = path.join(dir, "lora");
    const shape = { nLayers: 6, dModel: 64, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 128 };
    const pairs = LORA_MODULE_NAMES.flatMap((module) =>
      [1, 3].map((layer) => {
        const [inDim, outDim] = moduleDims(module, shape);
        return { layer, module, a: new Float32Array(2 * inDim).fill(0.01), b: new Float32Array(outDim * 2).fill(0.01) };
      }),
    );
    writePeftAdapter(loraDir, { rank: 2, alpha: 4, targets: [...LORA_MODULE_NAMES], pairs }, shape);
    const bench = (extra: string[]) =>
      first(["bench", "--model", model, "--routers", routersDir, "--lora", loraDir, "--reps", "2", "--prompt-tokens", "8",
        "--gen-tokens", "4", "--threads", "1", "--no-peer", "--json", ...extra]);
    // With the datasets folder's WikiText, this tiny model ends some prompts at
    // its first token in some configuration: those are left out for all, and
    // spare prompts take their place.
    const wiki = bench([]);
    expect(wiki.code, wiki.stderr).toBe(0);
    const wikiOut = JSON.parse(wiki.stdout);
    expect(wikiOut.rows).toHaveLength(6);
    for (const i of wikiOut.droppedPrompts) expect(i).toBeLessThan(2 + 10);
    // An empty datasets folder: the built-in paragraph as the prompt.
    const r = bench(["--data-dir", fs.mkdtempSync(path.join(dir, "no-data-"))]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.droppedPrompts).toEqual([]);
    // The routers skip layer 2 alone (with the adapter too), so uls:1 is their match.
    expect(out.ulsK).toBe(1);
    expect(out.rows.map((x: { config: string }) => x.config)).toEqual(["full", "full+lora", "first", "first+lora", "uls:1", "uls:1+lora"]);
    expect(out.rows.map((x: { executedLayers: number }) => x.executedLayers)).toEqual([6, 6, 5, 5, 5, 5]);
    for (const row of out.rows) {
      expect(row.msPerToken.values).toHaveLength(2);
      expect(row.msPerToken.median).toBeGreaterThan(0);
    }
    expect(out.rows[0].speedVsFull).toBe(1);
    expect(out.adapterOverhead.map((o: { pair: string; sameLayers: boolean }) => [o.pair, o.sameLayers])).toEqual([
      ["full+lora vs full", true],
      ["first+lora vs first", true],
      ["uls+lora vs uls", true],
    ]);
  });
});

describe("eval --compare at layer budgets", () => {
  it("runs first:maxN with the baselines matched to each budget", () => {
    const data = path.join(dir, "say.jsonl");
    fs.writeFileSync(data, ["the cat sat", "a river runs"].map((t) => JSON.stringify({ prompt: `Say: ${t}`, reference: t })).join("\n") + "\n");
    const out = path.join(dir, "cmp-budgets");
    const r = first(["eval", "--compare", "--model", model, "--data", data, "--routers", routersDir, "--budgets", "5,4", "--baselines", "uls",
      "--max-tokens", "3", "--threads", "1", "--out", out, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(fs.readFileSync(path.join(out, "table.json"), "utf8")).rows as { policy: string; executedLayers: number }[];
    expect(rows.map((x) => x.policy)).toEqual(["full", "first:max5", "uls:1", "first:max4", "uls:2"]);
    expect(rows.map((x) => x.executedLayers)).toEqual([6, 5, 5, 4, 4]);
    const bad = first(["eval", "--compare", "--model", model, "--data", data, "--routers", routersDir, "--budgets", "5", "--thresholds", "0.5", "--out", out]);
    expect(bad.code).toBe(2);
    const badLora = first(["eval", "--compare", "--model", model, "--data", data, "--routers", routersDir, "--baseline-lora", "uls:1=/nowhere", "--out", out]);
    expect(badLora.code).toBe(2);
    expect(badLora.stderr).toMatch(/no adapter_config.json/);
  });
});

describe("first distill", () => {
  it("writes the model's greedy responses, then continues without repeating them", () => {
    const data = path.join(dir, "prompts.jsonl");
    fs.writeFileSync(data, ["one two", "three four", "five six"].map((t) => JSON.stringify({ messages: [{ role: "user", content: t }, { role: "assistant", content: "x" }] })).join("\n") + "\n");
    const out = path.join(dir, "distilled.jsonl");
    const args = ["distill", "--model", model, "--data", data, "--out", out, "-n", "5", "--concurrency", "2", "--threads", "1"];
    const r = first(args);
    expect(r.code).toBe(0);
    const lines = fs.readFileSync(out, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
    expect(lines[1].messages[0]).toEqual({ role: "user", content: "three four" });
    expect(lines[1].messages[1].role).toBe("assistant");
    expect(typeof lines[1].truncated).toBe("boolean");
    // The responses are the model's own greedy text for that prompt.
    const chat = first(["run", "--model", model, "--chat", "--prompt", "three four", "--temperature", "0", "-n", "5", "--threads", "1", "--json"]);
    expect(lines[1].messages[1].content).toBe(JSON.parse(chat.stdout).text.trim());
    const again = first(args);
    expect(again.stdout).toMatch(/^0 responses written/);
    expect(fs.readFileSync(out, "utf8").trim().split("\n")).toHaveLength(3);
    expect(first(["distill", "--model", model, "--out", out]).code).toBe(2);
  });
});
