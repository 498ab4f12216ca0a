// `first train` as a user runs it: usage, flag errors, and (when the addon
// has the Trainer) a few steps on a tiny model writing routers, LoRA and log.
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { runCli } from "./support/cli.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";

let home = "";
const hasTrainer = (() => {
  try {
    return typeof createRequire(import.meta.url)("@first/native").Trainer === "function";
  } catch {
    return false;
  }
})();

const first = (args: string[]) => runCli(args, { home, timeout: 120_000 });

beforeAll(() => {
  home = fs.mkdtempSync(path.join(os.tmpdir(), "first-train-cli-"));
});
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe("first train", () => {
  it("prints its usage with every flag", () => {
    const r = first(["train", "--help"]);
    expect(r.code).toBe(0);
    for (const flag of ["--model", "--data", "--eval", "--out", "--stage", "--lambda", "--alpha", "--target", "--epochs", "--steps", "--lr", "--batch",
      "--max-seq-len", "--lora-rank", "--lora-alpha", "--lora-targets", "--seed", "--resume", "--router-kind", "--router-hidden", "--threshold",
      "--hard-after", "--eval-every", "--save-every", "--warmup", "--weight-decay", "--clip", "--threads", "--data-dir", "--init-lora", "--loss-weighting"])
      expect(r.stdout).toContain(flag);
    expect(first(["--help"]).stdout).toMatch(/train\s+Train FiRST routers/);
  });

  it("exits 2 on bad flags and missing required ones", () => {
    for (const args of [
      ["train", "--bogus"],
      ["train", "--data", "x.jsonl"],
      ["train", "--out", "o"],
      ["train", "--out", "o", "--data", "x.jsonl", "--stage", "all"],
      ["train", "--out", "o", "--data", "x.jsonl", "--lambda", "-1"],
      ["train", "--out", "o", "--data", "x.jsonl", "--lora-targets", "q,qkv"],
      ["train", "--out", "o", "--data", "x.jsonl", "--hard-after", "2"],
      ["train", "--out", "o", "--data", "x.jsonl", "--router-kind", "deep"],
      ["train", "--out", "o", "--data", "x.jsonl", "--loss-weighting", "examples"],
    ]) {
      const r = first(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain("first train");
    }
  });

  it.skipIf(!hasTrainer)("trains a tiny model for a few steps and writes routers, LoRA and the log", async () => {
    const model = path.join(home, "tiny.gguf");
    makeTinyLlama(model, { layers: 5, seed: 3 });
    const data = path.join(home, "d.jsonl");
    fs.writeFileSync(data, Array.from({ length: 8 }, (_, i) => JSON.stringify({ prompt: `hello ${i}`, response: " world" })).join("\n"));
    const out = path.join(home, "run");
    const r = first(["train", "--model", model, "--data", data, "--out", out, "--stage", "both", "--steps", "3", "--batch", "2", "--threads", "1", "--max-seq-len", "32"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("routers:");
    for (const f of ["routers/router.json", "routers/routers.safetensors", "lora/adapter_config.json", "lora/adapter_model.safetensors", "train-log.jsonl", "checkpoint/state.json"])
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    const resumed = first(["train", "--out", out, "--resume", "--model", model]);
    expect(resumed.code, resumed.stderr).toBe(0);

    // Continued LoRA training: at a zero learning rate the adapter comes back as given, with its rank and alpha.
    const more = path.join(home, "more");
    const cont = first(["train", "--model", model, "--data", data, "--out", more, "--stage", "lora", "--routers", path.join(out, "routers"),
      "--init-lora", path.join(out, "lora"), "--lora-lr", "0", "--lora-rank", "2", "--steps", "1", "--batch", "2", "--threads", "1", "--max-seq-len", "32"]);
    expect(cont.code, cont.stderr).toBe(0);
    expect(cont.stderr).toContain(`LoRA starts from ${path.join(out, "lora")}`);
    expect(fs.readFileSync(path.join(more, "lora/adapter_model.safetensors"))).toEqual(fs.readFileSync(path.join(out, "lora/adapter_model.safetensors")));
    expect(JSON.parse(fs.readFileSync(path.join(more, "lora/adapter_config.json"), "utf8"))).toMatchObject({ r: 8, lora_alpha: 16 });
    const wrongStage = first(["train", "--model", model, "--data", data, "--out", path.join(home, "x"), "--init-lora", path.join(out, "lora")]);
    expect(wrongStage.code).not.toBe(0);
    expect(wrongStage.stderr).toContain("--init-lora needs --stage lora or both");
  });
});
