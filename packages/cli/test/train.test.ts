// `first train` as a user runs it: usage, flag errors, and (when the addon
// has the Trainer) a few steps on a tiny model writing routers, LoRA and log.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runCli } from "./support/cli.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";

let home = "";

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

  it("trains a tiny model for a few steps and writes routers, LoRA and the log", async () => {
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

  it("trains a baseline's adapter under a fixed --policy, and FiRST's under a --max-layers budget", () => {
    const model = path.join(home, "tiny-policy.gguf");
    makeTinyLlama(model, { layers: 5, seed: 3 });
    const data = path.join(home, "p.jsonl");
    fs.writeFileSync(data, Array.from({ length: 6 }, (_, i) => JSON.stringify({ prompt: `hello ${i}`, response: " world" })).join("\n"));
    const common = ["--model", model, "--data", data, "--stage", "lora", "--steps", "2", "--batch", "2", "--threads", "1", "--max-seq-len", "32"];
    const out = path.join(home, "uls1");
    const r = first(["train", ...common, "--out", out, "--policy", "uls:1"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/policy uls:1: skips layers 3\n/);
    expect(fs.existsSync(path.join(out, "lora/adapter_model.safetensors"))).toBe(true);
    expect(fs.existsSync(path.join(out, "routers"))).toBe(false);
    const steps = fs.readFileSync(path.join(out, "train-log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((l) => l.type === "step");
    for (const s of steps) expect(s.skipRatio).toBeCloseTo(1 / 5, 6);
    // A budget needs routers: those of a router stage.
    const withRouters = path.join(home, "budget");
    expect(first(["train", ...common.filter((x) => x !== "lora" && x !== "--stage"), "--stage", "routers", "--out", withRouters]).code).toBe(0);
    const b = first(["train", ...common, "--out", withRouters, "--max-layers", "3"]);
    expect(b.code, b.stderr).toBe(0);
    const bSteps = fs.readFileSync(path.join(withRouters, "train-log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l)).filter((l) => l.type === "step");
    for (const s of bSteps) expect(s.skipRatio).toBeCloseTo(2 / 5, 6);
    for (const bad of [["--policy", "uls:1", "--max-layers", "3"], ["--policy", "uls:1", "--routers", withRouters], ["--policy", "nope:1"]]) {
      const e = first(["train", ...common, "--out", path.join(home, "bad"), ...bad]);
      expect(e.code, bad.join(" ")).toBe(2);
    }
  });
});
