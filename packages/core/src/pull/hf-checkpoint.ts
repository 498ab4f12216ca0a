// Hugging Face checkpoint repositories: `hf:<owner>/<repo>` (no file) pulls
// the files a checkpoint folder needs (config.json, the tokenizer files, the
// safetensors weights or their index and shards) into
// <models>/hf/<owner>/<repo>/, each resumable and checked against the size and
// the LFS sha256 the hub lists. A folder holding config.json is a model path
// (the engine reads it in place: native/src/hf/).
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readdirSync, statSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { DownloadError, InvalidOptionError } from "../errors.js";
import { DEFAULT_HF_ENDPOINT } from "./hf.js";
import { downloadFile } from "./download.js";
import { fileSize, sha256File } from "./files.js";
import type { PullProgressListener } from "./progress.js";

export interface HfRepo {
  owner: string;
  repo: string;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** The files of a checkpoint folder that the engine and tokenizer read. */
const WANTED = /^(config\.json|generation_config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|model\.safetensors\.index\.json|[A-Za-z0-9._-]+\.safetensors)$/;

/** `hf:owner/repo` (a repository, no file path)? */
export function isHfRepoSource(source: string): boolean {
  if (!source.startsWith("hf:")) return false;
  const parts = source.slice(3).split("/");
  return parts.length === 2 && parts.every((p) => SEGMENT.test(p) && p !== "." && p !== "..");
}

export function parseHfRepo(source: string): HfRepo {
  if (!isHfRepoSource(source)) throw new InvalidOptionError("model", `"${source}" is not hf:<owner>/<repo>`);
  const [owner, repo] = source.slice(3).split("/");
  return { owner, repo };
}

export function hfRepoDir(modelsDir: string, r: HfRepo): string {
  return path.join(modelsDir, "hf", r.owner, r.repo);
}

/** A folder the engine can load as a checkpoint (config.json and weights). */
export function isCheckpointDir(dir: string): boolean {
  return existsSync(path.join(dir, "config.json")) && statSync(dir).isDirectory();
}

interface TreeEntry {
  type: string;
  path: string;
  size: number;
  lfs?: { oid: string; size: number };
}

async function listRepo(r: HfRepo, endpoint: string, headers: Record<string, string>, signal?: AbortSignal): Promise<TreeEntry[]> {
  const url = `${endpoint.replace(/\/+$/, "")}/api/models/${r.owner}/${r.repo}/tree/main`;
  let res: Response;
  try {
    res = await fetch(url, { headers, signal });
  } catch (err) {
    throw new DownloadError(`cannot list ${url}: ${(err as Error).message}`, { url });
  }
  if (!res.ok) throw new DownloadError(`listing ${url} failed: HTTP ${res.status}`, { url, status: res.status });
  const body: unknown = await res.json().catch(() => undefined);
  if (!Array.isArray(body)) throw new DownloadError(`listing ${url} did not return a file list`, { url });
  return body.filter(
    (e): e is TreeEntry =>
      typeof e === "object" && e !== null && e.type === "file" && typeof e.path === "string" && Number.isSafeInteger(e.size) && e.size >= 0,
  );
}

/** Pulls a checkpoint repository; returns its folder. Files already complete are kept. */
export async function pullHfCheckpoint(
  r: HfRepo,
  modelsDir: string,
  options: { env?: NodeJS.ProcessEnv; onProgress?: PullProgressListener; signal?: AbortSignal } = {},
): Promise<{ path: string; bytes: number; files: string[] }> {
  const env = options.env ?? process.env;
  const endpoint = env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT;
  const headers: Record<string, string> = env.HF_TOKEN ? { authorization: `Bearer ${env.HF_TOKEN}` } : {};
  const source = `hf:${r.owner}/${r.repo}`;
  options.onProgress?.({ type: "source", source });
  const entries = (await listRepo(r, endpoint, headers, options.signal)).filter((e) => WANTED.test(e.path));
  if (!entries.some((e) => e.path === "config.json")) throw new DownloadError(`${source} has no config.json: not a checkpoint repository`);
  if (!entries.some((e) => e.path.endsWith(".safetensors"))) throw new DownloadError(`${source} has no .safetensors weights`);
  const dir = hfRepoDir(modelsDir, r);
  await fs.mkdir(dir, { recursive: true });
  let bytes = 0;
  for (const e of entries) {
    const dest = path.join(dir, e.path);
    const sha256 = e.lfs?.oid && /^[0-9a-f]{64}$/.test(e.lfs.oid) ? e.lfs.oid : undefined;
    bytes += e.size;
    if ((await fileSize(dest)) === e.size && (sha256 === undefined || (await sha256File(dest, options.signal)) === sha256)) continue;
    const url = `${endpoint.replace(/\/+$/, "")}/${r.owner}/${r.repo}/resolve/main/${encodeURIComponent(e.path)}`;
    await downloadFile(url, dest, {
      headers,
      bytes: e.size,
      sha256,
      signal: options.signal,
      onBytes: (got, total, start) => options.onProgress?.({ type: "bytes", source: `${source}/${e.path}`, bytes: got, totalBytes: total, startBytes: start }),
      onVerify: () => options.onProgress?.({ type: "verify", source: `${source}/${e.path}` }),
    });
  }
  return { path: dir, bytes, files: entries.map((e) => e.path) };
}

/** sha256 over a checkpoint folder's config.json and safetensors files (name, then bytes, in name order). */
export async function checkpointSha256(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const names = readdirSync(dir).filter((n) => n === "config.json" || n.endsWith(".safetensors")).sort();
  for (const n of names) {
    hash.update(`${n}\n`);
    await new Promise<void>((ok, fail) => {
      createReadStream(path.join(dir, n)).on("data", (c) => hash.update(c)).on("end", ok).on("error", fail);
    });
  }
  return hash.digest("hex");
}
