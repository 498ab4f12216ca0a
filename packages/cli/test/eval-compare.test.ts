// `first eval --compare` end to end on a tiny random model and a small JSONL
// file, and its usage errors. Needs `pnpm build` first.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { requireBuiltCli, runCli } from "./support/cli.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";
import { saveRouters } from "../../core/src/routers/checkpoint.js";
import { fileSha256 } from "../../core/src/routers/model-identity.js";
import { TrainRandom } from "../../train/src/random.js";
import { moduleDims, writePeftAdapter, type LoraModelShape, type LoraModule, type LoraPair } from "../../core/src/lora/peft.js";

let dir = "";
let modelPath = "";
let dataPath = "";

const first = (args: string[]) => runCli(args, { home: dir, debug: true, timeout: 120_000 });

beforeAll(() => {
  requireBuiltCli();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "first-compare-cli-"));
  modelPath = path.join(dir, "tiny.gguf");
  makeTinyLlama(modelPath, { seed: 3, layers: 4 });
  dataPath = path.join(dir, "tiny.jsonl");
  const lines = ["the cat sat on the mat", "a river runs to the sea", "the sun is hot"].map((t) => JSON.stringify({ prompt: `Say: ${t}`, reference: t }));
  fs.writeFileSync(dataPath, `${lines.join("\n")}\n`);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("first eval --compare", () => {
  it("compares full and the baselines at --skip k, writes tables and figures, and resumes", () => {
    const out = path.join(dir, "cmp");
    const args = ["eval", "--compare", "--model", modelPath, "--data", dataPath, "--skip", "1", "--baselines", "uls,last,exit", "--max-tokens", "4", "--out", out];
    const r = first(args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("| policy | layers (of 4) | rouge1 | rouge2 | rougeL |");
    const table = JSON.parse(fs.readFileSync(path.join(out, "table.json"), "utf8"));
    expect(table.rows.map((row: { policy: string }) => row.policy)).toEqual(["full", "uls:1", "last:1", "exit:2"]);
    expect(table.rows.map((row: { executedLayers: number }) => row.executedLayers)).toEqual([4, 3, 3, 3]);
    for (const f of ["table.md", "quality-vs-speed.svg", "quality-vs-speed.png", "skip-heatmap.svg", "skip-heatmap.png"])
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    expect(r.stderr).toContain("tiny full: running");

    const again = first(args);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain("running");
    expect(again.stderr).toContain("tiny exit:2: already done");
  });

  it("compares FiRST routers at two thresholds with baselines at the routers' executed layers", async () => {
    // Hand-made routers for the 4-layer model: layer 1 has p = 0.6, layer 2 has p = 0.9 for any input,
    // so threshold 0.5 runs all 4 layers and 0.7 runs 3.
    const d = 64;
    const layer = (bias: number) => ({ fcWeight: new Float32Array(d), fcBias: bias });
    const routers = {
      config: { kind: "linear" as const, dModel: d, hidden: 0, nLayers: 4, exempt: [0, 3], threshold: 0.5, normEps: 1e-5 },
      layers: [null, layer(Math.log(0.6 / 0.4)), layer(Math.log(0.9 / 0.1)), null],
    };
    const routersDir = path.join(dir, "routers");
    saveRouters(routersDir, routers, { architecture: "llama", nLayers: 4, dModel: d, sha256: await fileSha256(modelPath) });
    const out = path.join(dir, "cmp-first");
    const r = first(["eval", "--compare", "--model", modelPath, "--data", dataPath, "--routers", routersDir, "--thresholds", "0.5,0.7",
      "--baselines", "uls,random", "--max-tokens", "4", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(fs.readFileSync(path.join(out, "table.json"), "utf8")).rows as { policy: string; executedLayers: number }[];
    const byPolicy = Object.fromEntries(rows.map((row) => [row.policy, row.executedLayers]));
    expect(byPolicy["full"]).toBe(4);
    expect(byPolicy["first@0.5"]).toBe(4);
    expect(byPolicy["first@0.7"]).toBe(3);
    expect(byPolicy["uls:1"]).toBe(3);
    expect(byPolicy["random:1"]).toBe(3);
  });

  it("runs the adapter beside the routers (routers/lora) for first+lora and full+lora only", async () => {
    // Routers that always skip layer 1; an adapter on every layer whose B is large enough to change the text.
    const d = 64;
    const routers = {
      config: { kind: "linear" as const, dModel: d, hidden: 0, nLayers: 4, exempt: [0, 2, 3], threshold: 0.5, normEps: 1e-5 },
      layers: [null, { fcWeight: new Float32Array(d), fcBias: -3 }, null, null],
    };
    const routersDir = path.join(dir, "routers-lora");
    saveRouters(routersDir, routers, { architecture: "llama", nLayers: 4, dModel: d, sha256: await fileSha256(modelPath) });
    const shape: LoraModelShape = { nLayers: 4, dModel: d, nHeads: 4, nKvHeads: 2, headDim: 16, ffnDim: 128 };
    const targets: LoraModule[] = ["q", "v", "o"];
    const rng = new TrainRandom(1);
    const rand = () => rng.uniform(1);
    const pairs: LoraPair[] = [];
    for (let layer = 0; layer < 4; layer++)
      for (const module of targets) {
        const [inDim, outDim] = moduleDims(module, shape);
        pairs.push({ layer, module, a: Float32Array.from({ length: 4 * inDim }, rand), b: Float32Array.from({ length: outDim * 4 }, rand) });
      }
    writePeftAdapter(path.join(routersDir, "lora"), { rank: 4, alpha: 8, targets, pairs }, shape);

    const out = path.join(dir, "cmp-lora");
    const r = first(["eval", "--compare", "--model", modelPath, "--data", dataPath, "--routers", routersDir, "--baselines", "uls",
      "--max-tokens", "6", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("LoRA adapter in");
    const rows = JSON.parse(fs.readFileSync(path.join(out, "table.json"), "utf8")).rows as { policy: string; executedLayers: number }[];
    expect(rows.map((row) => [row.policy, row.executedLayers])).toEqual([["full", 4], ["full+lora", 4], ["first", 3], ["first+lora", 3], ["uls:1", 3]]);
    // The adapter changes what the model writes; the rows without it match a plain run of the base model.
    const outputs = (policy: string) =>
      fs.readFileSync(path.join(out, "runs", "tiny", policy, "examples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).output as string);
    expect(outputs("full-lora")).not.toEqual(outputs("full"));
    expect(outputs("first-lora-0.5")).not.toEqual(outputs("first-0.5"));
    const plainOut = path.join(dir, "plain-full");
    const plain = first(["eval", "--model", modelPath, "--data", dataPath, "--max-tokens", "6", "--out", plainOut]);
    expect(plain.code, plain.stderr).toBe(0);
    const plainOutputs = fs.readFileSync(path.join(plainOut, "examples.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l).output as string);
    expect(outputs("full")).toEqual(plainOutputs);

    const noRouters = first(["eval", "--compare", "--model", modelPath, "--data", dataPath, "--skip", "1", "--lora", path.join(routersDir, "lora")]);
    expect(noRouters.code).toBe(2);
    expect(noRouters.stderr).toContain("give --routers too");
  });

  it("explains what a comparison needs", () => {
    const base = ["eval", "--compare", "--model", modelPath, "--data", dataPath];
    const thresholds = first([...base, "--skip", "1", "--thresholds", "0.5"]);
    expect(thresholds.code).toBe(2);
    expect(thresholds.stderr).toContain("--thresholds applies to --routers");
    const policy = first([...base, "--skip", "1", "--policy", "uls:1"]);
    expect(policy.code).toBe(2);
    const task = first(["eval", "--compare", "--model", modelPath, "--task", "scitldr,nope", "--skip", "1"]);
    expect(task.code).toBe(2);
    expect(task.stderr).toContain('unknown task "nope"');
    const baselines = first([...base, "--skip", "1", "--baselines", "uls,shortgpt"]);
    expect(baselines.code).toBe(2);
    expect(baselines.stderr).toContain('unknown baseline "shortgpt"');
  });
});
