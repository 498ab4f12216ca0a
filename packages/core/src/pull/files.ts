// File helpers for the model cache. Files are written under a temporary name
// in the destination folder and renamed into place only once complete and
// verified, so a reader never sees a half-written model.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";

const TEMP_MARK = ".tmp-";

/** A fresh temporary name next to `dest`, tagged with our pid for stale-file cleanup. */
export function tempPathFor(dest: string): string {
  return `${dest}${TEMP_MARK}${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** The resumable download file for `dest`. Kept across runs on purpose. */
export function partPathFor(dest: string): string {
  return `${dest}.part`;
}

export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20, signal })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}

export async function fileSize(file: string): Promise<number | undefined> {
  try {
    const st = await fs.stat(file);
    return st.isFile() ? st.size : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

export async function removeQuietly(file: string): Promise<void> {
  await fs.rm(file, { force: true, recursive: true }).catch(() => undefined);
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes temporary files left in `dir` by processes that died before they
 * could clean up (killed with SIGKILL, power loss). Files of live processes stay.
 */
export async function removeStaleTempFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const at = name.lastIndexOf(TEMP_MARK);
    if (at < 0) continue;
    const pid = Number.parseInt(name.slice(at + TEMP_MARK.length), 10);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processIsAlive(pid)) {
      await removeQuietly(path.join(dir, name));
    }
  }
}
