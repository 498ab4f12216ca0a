// The settings an evaluation folder's examples were made with (model,
// routers, adapter...), kept in DIR/settings.json, so that resuming never
// mixes examples made with other weights into a result.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { InvalidOptionError, fileSha256 } from "@first/core";

export const RUN_SETTINGS_FILE = "settings.json";

/**
 * Readies DIR for examples made with `settings`. A folder holding examples
 * of other (or unrecorded) settings is emptied with "clear" (folders the
 * program owns) and refused with "refuse" (a folder the user named).
 */
export function claimRunFolder(dir: string, settings: Record<string, unknown>, onMismatch: "clear" | "refuse"): void {
  const want = JSON.stringify(settings);
  const file = join(dir, RUN_SETTINGS_FILE);
  const had = existsSync(file) ? readFileSync(file, "utf8").trim() : undefined;
  if (had === want) return;
  const used = existsSync(dir) && readdirSync(dir).length > 0;
  if (used && onMismatch === "refuse")
    throw new InvalidOptionError("out", `${dir} holds results made with other settings (${had ?? "unrecorded"}); give another folder or delete it`);
  if (used) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(file, `${want}\n`);
}

/** A checkpoint folder (routers, adapter) by path and the sha256 of each file in it. */
export async function checkpointIdentity(dir: string): Promise<{ path: string; files: Record<string, string> }> {
  const files: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name)))
    if (e.isFile()) files[e.name] = await fileSha256(join(dir, e.name));
  return { path: dir, files };
}
