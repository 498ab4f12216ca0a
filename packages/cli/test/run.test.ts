// `first run` as a user runs it, on a tiny random model: the JSON output,
// usage errors (exit 2), and unusable models (exit 1, a message, no stack trace).
// Needs `pnpm build` first (turbo runs it before the tests).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { requireBuiltCli, runCli } from "./support/cli.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";

let home = "";
let model = "";

const first = (args: string[]) => runCli(args, { home, input: "" });

/** No JavaScript stack frames in what the user sees. */
const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at .+[:(]\d+/);

beforeAll(() => {
  requireBuiltCli();
  home = fs.mkdtempSync(path.join(os.tmpdir(), "first-cli-run-"));
  model = makeTinyLlama(path.join(home, "tiny.gguf"), { seed: 4, weightType: "Q8_0" }).path;
});
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe("first run", () => {
  it("prints one JSON object with the documented fields", () => {
    const r = first(["run", "--model", model, "--prompt", "hello world", "--json", "--temperature", "0", "-n", "8", "--threads", "1"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]) as Record<string, unknown>;
    // Every field is one `first run --help` documents, and the core ones are always there.
    const documented = new Set([...first(["run", "--help"]).stdout.matchAll(/"(\w+)"/g)].map((m) => m[1]));
    for (const key of [...Object.keys(out), ...Object.keys(out.timings as object)]) expect(documented).toContain(key);
    for (const key of ["text", "promptTokenIds", "tokens", "finishReason", "executedLayers", "skippedLayers", "timings"]) {
      expect(out).toHaveProperty(key);
    }
    expect(typeof out.text).toBe("string");
    expect(Array.isArray(out.promptTokenIds) && out.promptTokenIds.length > 0).toBe(true);
    expect((out.tokens as number[]).length).toBeLessThanOrEqual(8);
    expect(["length", "stop"]).toContain(out.finishReason);
    expect(out.executedLayers).toBe(4);
    expect(out.skippedLayers).toEqual([]);
    expect(Object.keys(out.timings as object).sort()).toEqual(
      ["prefillMs", "decodeMs", "prefillTokensPerSecond", "decodeTokensPerSecond"].sort(),
    );
    // Greedy runs are reproducible.
    const again = first(["run", "--model", model, "--prompt", "hello world", "--json", "--temperature", "0", "-n", "8", "--threads", "1"]);
    expect((JSON.parse(again.stdout) as { tokens: number[] }).tokens).toEqual(out.tokens);
  });

  it("streams text and reports timings on stderr without --json", () => {
    const r = first(["run", "--model", model, "--prompt", "hello", "--temperature", "0", "-n", "4", "--threads", "1"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/prefill: \d+ tokens/);
    expect(r.stderr).toMatch(/layers: 4\/4/);
  });

  it("exits 2 on a negative temperature", () => {
    const r = first(["run", "--model", model, "--prompt", "hi", "--temperature", "-1"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/temperature/);
    noStack(r.stderr);
  });

  it("exits 2 on an unknown flag", () => {
    const r = first(["run", "--model", model, "--prompt", "hi", "--temprature", "0.5"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown flag --temprature/);
    noStack(r.stderr);
  });

  it("exits 2 without a prompt", () => {
    const r = first(["run", "--model", model]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/prompt/);
  });

  const bad: Array<[string, (file: string) => void, RegExp]> = [
    ["a truncated file", (f) => fs.writeFileSync(f, fs.readFileSync(model).subarray(0, 5000)), /past the end|impossible|truncated/],
    ["a corrupt magic", (f) => fs.writeFileSync(f, Buffer.concat([Buffer.from("GGML"), fs.readFileSync(model).subarray(4)])), /magic|GGUF/],
    ["a file that is not a model", (f) => fs.writeFileSync(f, "hello, I am text\n"), /magic|GGUF|small|short/i],
  ];
  for (const [what, write, message] of bad) {
    it(`exits 1 with a message and no stack trace on ${what}`, () => {
      const file = path.join(home, `bad-${what.replace(/\W+/g, "-")}.gguf`);
      write(file);
      const r = first(["run", "--model", file, "--prompt", "hi"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^first run: /);
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/unexpected error/);
      noStack(r.stderr);
    });
  }

  it("exits 1 with a message and no stack trace on a missing file", () => {
    const file = path.join(home, "nowhere", "missing.gguf");
    const r = first(["run", "--model", file, "--prompt", "hi"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^first run: /);
    expect(r.stderr).toContain("missing.gguf");
    expect(r.stderr).not.toMatch(/unexpected error/);
    noStack(r.stderr);
  });
});
