// The built `first` binary, run as a user runs it: exit codes and messages.
// Needs `pnpm build` first (turbo runs it before the tests).
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { requireBuiltCli, runCli, runCliAsync } from "./support/cli.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";

let home = "";

const first = (args: string[], env: Record<string, string> = {}) => runCli(args, { home, env });

/** A local hub stand-in serving one file at `urlPath`; resolves to its endpoint and a close function. */
async function serveFile(urlPath: string, body: Buffer): Promise<{ endpoint: string; close: () => void }> {
  const server = http.createServer((req, res) => {
    if (req.url !== urlPath) return void res.writeHead(404).end();
    res.writeHead(200, { "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => server.close() };
}

/** Runs the CLI asynchronously, so that this process keeps serving while it downloads. */
const firstAsync = (args: string[], env: Record<string, string>) => runCliAsync(args, { home, env });

beforeAll(() => {
  requireBuiltCli();
  home = fs.mkdtempSync(path.join(os.tmpdir(), "first-cli-test-"));
});
afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

describe("first", () => {
  it("lists the commands on --help and prints the version", () => {
    const help = first(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: first <command>/);
    expect(help.stdout).toMatch(/pull\s+Download/);
    expect(help.stdout).toMatch(/inspect\s+Show/);
    const version = first(["--version"]);
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("shows usage and exits 2 without a command", () => {
    const r = first([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Usage: first/);
  });

  it("rejects an unknown command with exit 2 and a suggestion", () => {
    const r = first(["pul"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "pul" (did you mean "pull"?)');
  });

  it("rejects unknown flags, extra arguments and missing values with exit 2", () => {
    const unknown = first(["pull", "--forse"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown flag --forse (did you mean --force?)");
    expect(unknown.stderr).toContain("first pull --help");

    const extra = first(["inspect", "a.gguf", "b.gguf"]);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toContain('unexpected extra argument "b.gguf"');

    const switchValue = first(["pull", "--json=yes"]);
    expect(switchValue.code).toBe(2);
    expect(switchValue.stderr).toContain("--json is a switch");
  });

  it("prints each command's usage from its declaration", () => {
    for (const [command, flags] of [
      ["pull", ["--force", "--copy", "--json"]],
      ["inspect", ["--json", "--tensors"]],
    ] as const) {
      const r = first([command, "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: first ${command} [<`);
      for (const flag of flags) expect(r.stdout).toContain(flag);
    }
    // `first help <command>` is the same text.
    expect(first(["help", "pull"]).stdout).toBe(first(["pull", "--help"]).stdout);
  });

  it("pulls a local file in place and reports it as JSON", () => {
    const file = path.join(home, "local.gguf");
    fs.writeFileSync(file, "not really a model, but a file");
    const r = first(["pull", file, "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.path).toBe(file);
    expect(out.source).toBe("local");
    expect(out.sha256).toBe(createHash("sha256").update(fs.readFileSync(file)).digest("hex"));

    const copied = first(["pull", file, "--copy"]);
    expect(copied.code).toBe(0);
    expect(copied.stdout.trim()).toBe(path.join(home, "models", "local.gguf"));
  });

  it("downloads an hf: file from HF_ENDPOINT with progress on stderr", async () => {
    const body = Buffer.alloc(200_000, 7);
    const hub = await serveFile("/owner/repo/resolve/main/weights.gguf", body);
    try {
      const r = await firstAsync(["pull", "hf:owner/repo/weights.gguf", "--json"], { HF_ENDPOINT: hub.endpoint });
      expect(r.code).toBe(0);
      const out = JSON.parse(r.stdout);
      expect(out.path).toBe(path.join(home, "models", "hf", "owner", "repo", "weights.gguf"));
      expect(out.bytes).toBe(body.length);
      expect(r.stderr).toContain("fetching from hf:owner/repo/weights.gguf");
      expect(r.stderr).toMatch(/downloading\s+100%\s+200.0 kB\/200.0 kB/);
    } finally {
      hub.close();
    }
  });

  it("runs a model it has to pull first: progress on stderr, then the completion", async () => {
    const file = path.join(home, "tiny-src.gguf");
    makeTinyLlama(file, { seed: 3 });
    const hub = await serveFile("/owner/tiny/resolve/main/tiny.gguf", fs.readFileSync(file));
    try {
      const r = await firstAsync(
        ["run", "--model", "hf:owner/tiny/tiny.gguf", "--prompt", "hello", "--temperature", "0", "--max-tokens", "4", "--json"],
        { HF_ENDPOINT: hub.endpoint },
      );
      expect(r.stderr).toContain("fetching from hf:owner/tiny/tiny.gguf");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).tokens.length).toBeGreaterThan(0);
    } finally {
      hub.close();
    }
  });

  it("explains a missing model and exits non-zero", () => {
    const missingFile = first(["inspect", path.join(home, "nowhere", "model.gguf")]);
    expect(missingFile.code).toBe(1);
    expect(missingFile.stderr).toContain(`no model file at ${path.join(home, "nowhere", "model.gguf")}`);
    expect(missingFile.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const notPulled = first(["inspect"]);
    expect(notPulled.code).toBe(1);
    expect(notPulled.stderr).toContain("run `first pull` to download it");

    const unknown = first(["pull", "no-such-model"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown model "no-such-model"');
  });

  it("inspects a small GGUF file", () => {
    const file = path.join(home, "tiny.gguf");
    fs.writeFileSync(file, tinyGguf());

    const text = first(["inspect", file, "--tensors"]);
    expect(text.stderr).toBe("");
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/layers\s+2\n/);
    expect(text.stdout).toMatch(/hidden size\s+8\n/);
    expect(text.stdout).toMatch(/kv heads\s+1\n/);
    expect(text.stdout).toMatch(/vocab\s+100\n/);
    expect(text.stdout).toMatch(/tokenizer\.ggml\.tokens\s+\[100 strings\]/);
    expect(text.stdout).toMatch(/Tensors: 2,/);
    expect(text.stdout).toMatch(/blk\.0\.attn_q\.weight\s+F16\s+\[8, 8\]/);

    const json = JSON.parse(first(["inspect", file, "--json", "--tensors"]).stdout);
    expect(json.version).toBe(3);
    expect(json.architecture).toMatchObject({ name: "llama", layers: 2, hiddenSize: 8, heads: 2, kvHeads: 1, headDim: 4, contextLength: 32, vocabSize: 100, ropeBase: 10000 });
    expect(json.tensorCount).toBe(2);
    expect(json.parameters).toBe(8 * 100 + 8 * 8);
    expect(json.tensorTypes).toEqual([
      { type: "F32", count: 1, bytes: 3200 },
      { type: "F16", count: 1, bytes: 128 },
    ]);
    expect(json.metadata["tokenizer.ggml.tokens"]).toEqual({ arrayLength: 100, elementType: "string" });
    expect(json.metadata["general.name"]).toBe("tiny test model");
    expect(json.tensors[1]).toMatchObject({ name: "blk.0.attn_q.weight", type: "F16", shape: [8, 8], nBytes: 128 });
  });
});

/** A valid GGUF v3 file: llama metadata, a 100-token vocabulary and two tensors. */
function tinyGguf(): Buffer {
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    parts.push(b);
  };
  const u64 = (v: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    parts.push(b);
  };
  const f32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    parts.push(b);
  };
  const str = (s: string) => {
    u64(Buffer.byteLength(s));
    parts.push(Buffer.from(s));
  };
  const T = { UINT32: 4, FLOAT32: 6, STRING: 8, ARRAY: 9 };

  const kv: [string, () => void][] = [
    ["general.architecture", () => (u32(T.STRING), str("llama"))],
    ["general.name", () => (u32(T.STRING), str("tiny test model"))],
    ["llama.block_count", () => (u32(T.UINT32), u32(2))],
    ["llama.embedding_length", () => (u32(T.UINT32), u32(8))],
    ["llama.attention.head_count", () => (u32(T.UINT32), u32(2))],
    ["llama.attention.head_count_kv", () => (u32(T.UINT32), u32(1))],
    ["llama.context_length", () => (u32(T.UINT32), u32(32))],
    ["llama.rope.freq_base", () => (u32(T.FLOAT32), f32(10000))],
    [
      "tokenizer.ggml.tokens",
      () => {
        u32(T.ARRAY);
        u32(T.STRING);
        u64(100);
        for (let i = 0; i < 100; i++) str(`tok${i}`);
      },
    ],
  ];
  const tensors = [
    { name: "token_embd.weight", type: 0, shape: [8, 100], bytes: 8 * 100 * 4 },
    { name: "blk.0.attn_q.weight", type: 1, shape: [8, 8], bytes: 8 * 8 * 2 },
  ];

  parts.push(Buffer.from("GGUF"));
  u32(3);
  u64(tensors.length);
  u64(kv.length);
  for (const [key, write] of kv) {
    str(key);
    write();
  }
  let offset = 0;
  for (const t of tensors) {
    str(t.name);
    u32(t.shape.length);
    for (const d of t.shape) u64(d);
    u32(t.type);
    u64(offset);
    offset += Math.ceil(t.bytes / 32) * 32;
  }
  const header = Buffer.concat(parts);
  const dataStart = Math.ceil(header.length / 32) * 32;
  const file = Buffer.alloc(dataStart + offset);
  header.copy(file);
  return file;
}
