// Router checkpoints that ship with @first/core (shipped/<name>/ in the
// package, or $FIRST_ROUTERS_DIR first): the ones made for a given model.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { RouterJson } from "./checkpoint.js";
import { fileSha256, type ModelIdentity } from "./model-identity.js";

/** Folders searched for shipped routers, in order. */
export function routerSearchDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [];
  if (env.FIRST_ROUTERS_DIR) dirs.push(env.FIRST_ROUTERS_DIR);
  // dist/routers/shipped.js (or src/routers/shipped.ts) -> the package's shipped/.
  dirs.push(fileURLToPath(new URL("../../shipped/", import.meta.url)));
  return dirs;
}

/** Checkpoint folders whose router.json names this base model (by sha256). */
export function shippedRoutersFor(model: ModelIdentity, env: NodeJS.ProcessEnv = process.env): string[] {
  const found: string[] = [];
  for (const dir of routerSearchDirs(env)) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      const json = join(dir, name, "router.json");
      if (!existsSync(json)) continue;
      try {
        const r = JSON.parse(readFileSync(json, "utf8")) as RouterJson;
        if (r.baseModel?.sha256 === model.sha256) found.push(join(dir, name));
      } catch {
        // not a readable checkpoint: skip it here; loadRouters reports such folders when asked directly
      }
    }
  }
  return found;
}

/** A shipped FiRST set: the routers and, when one ships beside them (`lora/`), their adapter. */
export interface ShippedSet {
  routersDir: string;
  loraDir?: string;
}

/** The first shipped set made for the weights file at `modelPath` (by sha256), or null. */
export async function shippedSetFor(modelPath: string, env: NodeJS.ProcessEnv = process.env): Promise<ShippedSet | null> {
  const sha256 = await fileSha256(modelPath);
  const dir = shippedRoutersFor({ sha256 } as ModelIdentity, env)[0];
  if (dir === undefined) return null;
  const lora = join(dir, "lora");
  return existsSync(join(lora, "adapter_config.json")) ? { routersDir: dir, loraDir: lora } : { routersDir: dir };
}
