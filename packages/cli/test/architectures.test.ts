// FiRST on every architecture, as a user runs it: on tiny random Qwen2,
// Qwen3, Gemma 3 and Phi-3 models (GGUF, and one checkpoint folder), `first
// train` (routers, then LoRA) writes routers and a PEFT adapter, `first eval
// --compare` runs every baseline beside them, `first run` applies them, and
// routers trained on one architecture are refused on another.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyCheckpoint } from "../../core/src/gguf/tiny-checkpoint.js";
import { makeTinyModel, TINY_FAMILIES } from "../../core/src/gguf/tiny-model.js";
import { requireBuiltCli, runCli } from "./support/cli.js";

let home = "";
let data = "";
const first = (args: string[]) => runCli(args, { home, timeout: 180_000 });

// llama has its own tests of all of this.
const FAMILIES = TINY_FAMILIES.filter((f) => f.arch !== "llama");

beforeAll(() => {
  requireBuiltCli();
  home = fs.mkdtempSync(path.join(os.tmpdir(), "first-archs-cli-"));
  data = path.join(home, "d.jsonl");
  const lines = ["the cat sat on the mat", "a river runs to the sea", "the sun is hot", "hello world"].map((t) => JSON.stringify({ prompt: `Say: ${t}`, response: ` ${t}`, reference: t }));
  fs.writeFileSync(data, `${lines.join("\n")}\n`);
});
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe("FiRST on every architecture", () => {
  for (const f of FAMILIES) {
    it(`${f.arch}: train (routers + LoRA), eval --compare with every baseline, run with the result`, () => {
      const model = path.join(home, `${f.arch}.gguf`);
      makeTinyModel(model, { seed: 6, layers: 5, architecture: f.arch, weightType: "Q8_0", ...f.options });
      const out = path.join(home, `run-${f.arch}`);
      const t = first(["train", "--model", model, "--data", data, "--out", out, "--stage", "both", "--steps", "2", "--batch", "2", "--threads", "1", "--max-seq-len", "32", "--lora-rank", "2"]);
      expect(t.code, t.stderr).toBe(0);
      const routerJson = JSON.parse(fs.readFileSync(path.join(out, "routers/router.json"), "utf8"));
      expect(routerJson.baseModel.architecture).toBe(f.arch);
      expect(fs.existsSync(path.join(out, "lora/adapter_model.safetensors"))).toBe(true);

      const cmp = path.join(home, `cmp-${f.arch}`);
      const e = first(["eval", "--compare", "--model", model, "--data", data, "--skip", "1", "--baselines", "uls,bi,random,last,exit", "--max-tokens", "3", "--out", cmp, "--threads", "1"]);
      expect(e.code, e.stderr).toBe(0);
      const table = JSON.parse(fs.readFileSync(path.join(cmp, "table.json"), "utf8"));
      expect(table.rows.map((r: { policy: string }) => r.policy)).toEqual(["full", "uls:1", "bi:1", "random:1", "last:1", "exit:3"]);

      const r = first(["run", "--model", model, "--routers", path.join(out, "routers"), "--lora", path.join(out, "lora"), "--prompt", "hello", "--max-tokens", "4", "--json", "--threads", "1"]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).executedLayers).toBeGreaterThan(0);
    });
  }

  it("trains on and runs a checkpoint folder, and refuses routers trained on another architecture", () => {
    const dir = path.join(home, "qwen3-ckpt");
    makeTinyCheckpoint(dir, { seed: 6, layers: 5, architecture: "qwen3", headDim: 32 }, "BF16");
    const out = path.join(home, "run-qwen3-ckpt");
    const t = first(["train", "--model", dir, "--data", data, "--out", out, "--stage", "both", "--steps", "1", "--batch", "2", "--threads", "1", "--max-seq-len", "32", "--lora-rank", "2"]);
    expect(t.code, t.stderr).toBe(0);
    const r = first(["run", "--model", dir, "--routers", path.join(out, "routers"), "--lora", path.join(out, "lora"), "--prompt", "hello", "--max-tokens", "3", "--json", "--threads", "1"]);
    expect(r.code, r.stderr).toBe(0);
    const wrong = first(["run", "--model", dir, "--routers", path.join(home, "run-qwen2", "routers"), "--prompt", "hello", "--max-tokens", "3"]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/architecture qwen2 vs qwen3/);
  });
});
