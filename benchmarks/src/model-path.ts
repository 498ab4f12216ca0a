// Which GGUF file a benchmark runs: --model, else the default model in the cache.
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { resolveModelPath } from "@first/core";
import { fail } from "./cli.js";

/** An existing model file, or the process ends with a message saying how to get one. */
export async function benchmarkModel(option: string | undefined): Promise<string> {
  if (option !== undefined) {
    const path = resolve(option);
    let isFile = false;
    try {
      isFile = statSync(path).isFile();
    } catch {
      // reported below
    }
    if (!isFile) fail(`model file not found: ${path}`);
    return path;
  }
  try {
    return await resolveModelPath(undefined, { pull: false });
  } catch (err) {
    fail(`${(err as Error).message}\n(or pass --model path/to/model.gguf)`);
  }
}
