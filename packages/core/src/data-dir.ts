// Where the task datasets live: --data-dir, else $FIRST_DATA, else a
// `shared/data` folder beside the repository (../shared/data from its root),
// searched upwards from the current directory.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { FirstError } from "./errors.js";

export function findDataDir(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  const given = explicit ?? env.FIRST_DATA;
  if (given !== undefined && given !== "") {
    if (!existsSync(given)) throw new FirstError("INVALID_OPTION", `data folder ${given} does not exist`);
    return resolve(given);
  }
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    for (const candidate of [join(dir, "shared", "data"), join(dir, "..", "shared", "data")]) {
      if (existsSync(join(candidate, "README.md"))) return resolve(candidate);
    }
    if (dirname(dir) === dir) break;
  }
  throw new FirstError(
    "INVALID_OPTION",
    "cannot find the datasets folder: give --data-dir or set FIRST_DATA (default: ../shared/data beside the project)",
  );
}
