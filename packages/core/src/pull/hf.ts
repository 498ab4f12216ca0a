// Hugging Face hub sources: `hf:<owner>/<repo>/<file>`.
import path from "node:path";
import { DownloadError, InvalidOptionError } from "../errors.js";
import { downloadFile, type DownloadOptions, type DownloadResult } from "./download.js";

export interface HfFile {
  owner: string;
  repo: string;
  /** Path inside the repository; may contain folders. */
  file: string;
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export function isHfSource(source: string): boolean {
  return source.startsWith("hf:");
}

export function parseHfSource(source: string): HfFile {
  const parts = source.slice("hf:".length).split("/");
  if (parts.length < 3 || !parts.every((p) => SEGMENT.test(p) && p !== "." && p !== "..")) {
    throw new InvalidOptionError("model", `"${source}" is not a Hugging Face source; expected hf:<owner>/<repo>/<file>`);
  }
  const [owner, repo, ...file] = parts;
  return { owner, repo, file: file.join("/") };
}

export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

/** Download URL of a hub file. `endpoint` allows a mirror (env HF_ENDPOINT, as the hub's own tools read it). */
export function hfUrl(f: HfFile, endpoint: string = DEFAULT_HF_ENDPOINT): string {
  return `${endpoint.replace(/\/+$/, "")}/${f.owner}/${f.repo}/resolve/main/${f.file.split("/").map(encodeURIComponent).join("/")}`;
}

/** Cache location for an hf: file that is not a known model. */
export function hfCachePath(modelsDir: string, f: HfFile): string {
  return path.join(modelsDir, "hf", f.owner, f.repo, ...f.file.split("/"));
}

/** Downloads an hf: file from HF_ENDPOINT (default the hub), sending HF_TOKEN as a bearer token when set. */
export async function downloadHfFile(
  f: HfFile,
  dest: string,
  options: DownloadOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DownloadResult> {
  const headers: Record<string, string> = { ...options.headers };
  if (env.HF_TOKEN) headers.authorization = `Bearer ${env.HF_TOKEN}`;
  try {
    return await downloadFile(hfUrl(f, env.HF_ENDPOINT || DEFAULT_HF_ENDPOINT), dest, { ...options, headers });
  } catch (err) {
    if (err instanceof DownloadError && (err.status === 401 || err.status === 403)) {
      const hint = env.HF_TOKEN ? "check that HF_TOKEN grants access to this repository" : "set HF_TOKEN for gated or private repositories";
      throw new DownloadError(`${err.message} (${hint})`, { url: err.url, status: err.status });
    }
    throw err;
  }
}
