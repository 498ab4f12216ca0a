// `first eval` as a user runs it: help, usage errors, and a --data run on a
// tiny model with --json and --out (then resumed).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { requireBuiltCli, runCli } from "./support/cli.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";

let dir = "";

const first = (args: string[]) => runCli(args, { home: dir });

beforeAll(() => {
  requireBuiltCli();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "first-eval-cli-"));
  makeTinyLlama(path.join(dir, "tiny.gguf"), { layers: 3, seed: 2 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("first eval", () => {
  it("--help lists the flags and the tasks", () => {
    const r = first(["eval", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: first eval/);
    expect(r.stdout).toMatch(/--task <name>/);
    expect(r.stdout).toMatch(/--max-tokens/);
    expect(r.stdout).toMatch(/gsm8k\s+grade-school math/);
    expect(first(["--help"]).stdout).toMatch(/eval\s+Evaluate/);
  });

  it("a bad --task exits 2 with the list of tasks; other usage errors exit 2", () => {
    const r = first(["eval", "--task", "nope"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown task "nope"; tasks: cnn_dailymail_val1000, scitldr, .*wikitext2/);
    expect(first(["eval"]).code).toBe(2);
    expect(first(["eval", "--task", "gsm8k", "--metric", "rouge"]).code).toBe(2);
    // --lora goes to the model loader, which checks the adapter folder.
    const lora = first(["eval", "--model", path.join(dir, "tiny.gguf"), "--task", "gsm8k", "--lora", dir]);
    expect(lora.code).not.toBe(0);
    expect(lora.stderr).toMatch(/adapter/i);
  });

  it("evaluates a --data file on a tiny model: --json, --out, resume", () => {
    const data = path.join(dir, "d.jsonl");
    fs.writeFileSync(data, '{"prompt":"the cat","reference":"sat"}\n{"prompt":"hello","reference":"world"}\n');
    const out = path.join(dir, "out");
    const args = ["eval", "--model", path.join(dir, "tiny.gguf"), "--data", data, "--metric", "squad", "--max-tokens", "3", "--threads", "1", "--out", out];
    const r = first([...args, "--json"]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s).toMatchObject({ task: "data:d.jsonl", policy: "full", examples: 2, executedLayers: 3 });
    expect(Object.keys(s.quality)).toEqual(["em", "f1"]);
    expect(Object.keys(s.latency)).toEqual(["prefillMsMedian", "decodeMsMedian", "msPerOutputToken", "decodeTokensPerSecond"]);
    expect(fs.readFileSync(path.join(out, "examples.jsonl"), "utf8").trim().split("\n")).toHaveLength(2);
    expect(JSON.parse(fs.readFileSync(path.join(out, "summary.json"), "utf8")).examples).toBe(2);

    const again = first([...args, "--policy", "skip:1"]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/policy\s+skip:1/);
    expect(again.stdout).toMatch(/skipped\s+1 \(100%\)/);
    const resumed = first(args);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/2 resumed/);
    expect(fs.readFileSync(path.join(out, "examples.jsonl"), "utf8").trim().split("\n")).toHaveLength(4);

    // Other weights (here another model file) in the same folder: refused, the folder left as it was.
    const other = path.join(dir, "other.gguf");
    makeTinyLlama(other, { layers: 3, seed: 5 });
    const refused = first(args.map((a) => (a === path.join(dir, "tiny.gguf") ? other : a)));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("holds results made with other settings");
    expect(fs.readFileSync(path.join(out, "examples.jsonl"), "utf8").trim().split("\n")).toHaveLength(4);
  });
});
