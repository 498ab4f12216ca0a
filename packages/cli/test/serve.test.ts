// `first serve` as a user runs it: it loads, answers /health and a chat
// request on 127.0.0.1, and on SIGTERM finishes and exits 0; bad flags exit 2.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";
import { MAIN, requireBuiltCli, runCli } from "./support/cli.js";

let home = "";
let model = "";

beforeAll(() => {
  requireBuiltCli();
  home = fs.mkdtempSync(path.join(os.tmpdir(), "first-cli-serve-"));
  model = makeTinyLlama(path.join(home, "tiny.gguf"), { seed: 2 }).path;
});
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe("first serve", () => {
  it("serves a chat request, then shuts down on SIGTERM with exit 0", async () => {
    const child = spawn(process.execPath, [MAIN, "serve", "--model", `tiny=${model}`, "--port", "0", "--threads", "1", "--api-key", "k"], {
      env: { ...process.env, FIRST_HOME: home },
    });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      for (let i = 0; i < 200 && !/ready: /.test(stderr); i++) await new Promise((r) => setTimeout(r, 50));
      const base = /ready: (http:\/\/[^\s]+)\/v1/.exec(stderr)?.[1];
      expect(base, stderr).toBeDefined();
      expect((await fetch(`${base}/health`)).status).toBe(200);
      const unauthorized = await fetch(`${base}/v1/models`);
      expect(unauthorized.status).toBe(401);
      const r = await fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { authorization: "Bearer k", "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content: "hi" }], max_tokens: 4, temperature: 0 }),
      });
      expect(r.status).toBe(200);
      const body = await r.json();
      expect(body.usage.first.executed_layers).toBe(4);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/shutting down/);
  });

  it("exits 2 on bad flags", () => {
    expect(runCli(["serve", "--lora", "nodir"], { home }).code).toBe(2);
    expect(runCli(["serve", "--first"], { home }).code).toBe(2);
    expect(runCli(["serve", "--port", "99999"], { home }).code).toBe(2);
  });
});
