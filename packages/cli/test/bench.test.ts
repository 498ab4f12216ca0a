// `first bench` on a tiny random model: the llama-bench-style table and the
// JSON shape, with and without llama.cpp beside it. Needs `pnpm build` first.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { requireBuiltCli, runCli } from "./support/cli.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";

let dir = "";
let modelPath = "";

const first = (args: string[]) => runCli(args, { home: dir, debug: true, timeout: 120_000 });

beforeAll(() => {
  requireBuiltCli();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "first-bench-test-"));
  modelPath = path.join(dir, "tiny.gguf");
  makeTinyLlama(modelPath, { seed: 3, layers: 4, weightType: "Q8_0" });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const SMALL = ["--reps", "1", "--prompt-tokens", "16", "--gen-tokens", "4", "--threads", "1"];

describe("first bench", () => {
  it("prints the results as JSON: model, backend, one pp and one tg row per thread count", () => {
    const r = first(["bench", "--model", modelPath, ...SMALL, "--threads", "1,2", "--no-peer", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.model).toMatchObject({ file: "tiny.gguf", name: expect.stringMatching(/^llama .+ Q8_0$/) });
    expect(out.model.params).toBeGreaterThan(0);
    expect(out.model.sizeBytes).toBeGreaterThan(0);
    expect(out.backend).toMatch(/^cpu (avx512|avx2|scalar)$/);
    expect(out.policy).toBe("full");
    expect(out.executedLayers).toBe(4);
    expect(out.reps).toBe(1);
    expect(out.peer).toBeNull();
    const tg = `tg${out.decodeSteps}`;
    expect(out.rows.map((row: { engine: string; threads: number; test: string }) => `${row.engine} ${row.threads} ${row.test}`)).toEqual([
      "first 1 pp16",
      `first 1 ${tg}`,
      "first 2 pp16",
      `first 2 ${tg}`,
    ]);
    for (const row of out.rows) {
      expect(row.tokensPerSecond.values).toHaveLength(1);
      expect(row.tokensPerSecond.mean).toBeGreaterThan(0);
      expect(row.tokensPerSecond.stdev).toBe(0);
      expect(row.kernels).toBe(out.backend.slice(4));
    }
    // The bandwidth limit, measured at each thread count, and each decode row set against it.
    expect(out.bandwidth.gbPerSecond[1]).toBeGreaterThan(0.1);
    expect(out.bandwidth.gbPerSecond[2]).toBeGreaterThan(0.1);
    expect(out.bandwidth.weightBytesPerStep).toBeGreaterThan(0);
    expect(out.bandwidth.weightBytesPerStep).toBeLessThanOrEqual(fs.statSync(modelPath).size);
    for (const row of out.rows) {
      if (row.test.startsWith("tg")) expect(row.bandwidthShare).toBeGreaterThan(0);
      else expect(row.bandwidthShare).toBeUndefined();
    }
  });

  it("compares our kernel sets rep by rep (--kernels), refusing sets the CPU lacks or that do not exist", () => {
    const r = first(["bench", "--model", modelPath, ...SMALL, "--kernels", "all", "--no-peer", "--no-bandwidth", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const sets = out.backend.slice(4).split(",");
    expect(sets[sets.length - 1]).toBe("scalar");
    expect(out.rows.map((row: { kernels: string; test: string }) => `${row.kernels} ${row.test}`)).toEqual(
      ["pp16", `tg${out.decodeSteps}`].flatMap((t) => sets.map((k: string) => `${k} ${t}`)),
    );
    expect(out.bandwidth).toBeUndefined();
    const bad = first(["bench", "--model", modelPath, ...SMALL, "--kernels", "avx3"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"avx3" is not a kernel set');
    if (!sets.includes("avx512")) {
      const lacking = first(["bench", "--model", modelPath, ...SMALL, "--kernels", "avx512"]);
      expect(lacking.code).toBe(2);
      expect(lacking.stderr).toContain("cannot run the avx512 kernels");
    }
  });

  it("prints a llama-bench table with llama.cpp side by side", () => {
    const r = first(["bench", "--model", modelPath, ...SMALL]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n").filter((l) => l.startsWith("|"));
    expect(lines[0]).toMatch(/^\| model +\| +size \| +params \| engine +\| backend +\| threads \| +test \| +t\/s \| of bw limit \|$/);
    const rows = lines.slice(2);
    const engines = rows.map((l) => l.split("|")[4].trim());
    if (r.stderr.includes("llama.cpp skipped")) {
      expect(engines).toEqual(["first", "first"]);
    } else {
      expect(engines).toEqual(["first", "llama.cpp", "first", "llama.cpp"]);
    }
    for (const row of rows) expect(row).toMatch(/\| +\d+\.\d\d ± \d+\.\d\d \| +(\d+%)? \|$/);
    expect(r.stdout).toMatch(/1 thread\(s\): read bandwidth \d+\.\d GB\/s; a decode step reads/);
    expect(rows[0]).toContain(" pp16 ");
  });

  it("applies a layer policy to our engine and rejects bad thread lists", () => {
    const r = first(["bench", "--model", modelPath, ...SMALL, "--policy", "last:1", "--no-peer", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.policy).toBe("last:1");
    expect(out.executedLayers).toBe(3);
    const bad = first(["bench", "--model", modelPath, "--threads", "1,x"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"x" is not a thread count');
  });
});
