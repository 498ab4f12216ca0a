// Identity of a base model, recorded in router checkpoints so that routers
// are never applied to weights they were not trained on.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { firstHome } from "../paths.js";
import { checkpointSha256 } from "../pull/hf-checkpoint.js";

export interface ModelIdentity {
  architecture: string;
  nLayers: number;
  dModel: number;
  /** sha256 of the GGUF file (of a checkpoint folder: src/pull/hf-checkpoint.ts). */
  sha256: string;
}

/** sha256 of a model file (or a checkpoint folder's config and weights), cached by path, size and modification time under FIRST_HOME. */
export async function fileSha256(path: string): Promise<string> {
  const abs = resolve(path);
  const st = statSync(abs);
  // A checkpoint folder is keyed by the files its hash covers.
  const key = st.isDirectory()
    ? `${abs}|${readdirSync(abs).filter((n) => n === "config.json" || n.endsWith(".safetensors")).sort().map((n) => {
        const f = statSync(join(abs, n));
        return `${n}:${f.size}:${f.mtimeMs}`;
      }).join(",")}`
    : `${abs}|${st.size}|${st.mtimeMs}`;
  const cacheFile = join(firstHome(), "hashes.json");
  let cache: Record<string, string> = {};
  if (existsSync(cacheFile)) {
    try {
      cache = JSON.parse(readFileSync(cacheFile, "utf8"));
    } catch {
      cache = {};
    }
  }
  if (cache[key]) return cache[key];
  let digest: string;
  if (st.isDirectory()) {
    digest = await checkpointSha256(abs);
  } else {
    const hash = createHash("sha256");
    await new Promise<void>((ok, fail) => {
      createReadStream(abs)
        .on("data", (chunk) => hash.update(chunk))
        .on("end", ok)
        .on("error", fail);
    });
    digest = hash.digest("hex");
  }
  cache[key] = digest;
  try {
    mkdirSync(firstHome(), { recursive: true });
    const tmp = `${cacheFile}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(cache, null, 1));
    renameSync(tmp, cacheFile);
  } catch {
    // The cache is an optimisation; a read-only home still works.
  }
  return digest;
}
