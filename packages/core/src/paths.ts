// Where first keeps its files. FIRST_HOME overrides the default ~/.cache/first,
// which lets tests and CI use a throwaway folder.
import os from "node:os";
import path from "node:path";

export function firstHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.FIRST_HOME;
  if (home !== undefined && home !== "") return path.resolve(home);
  return path.join(os.homedir(), ".cache", "first");
}

/** Folder holding pulled model files. */
export function modelsDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(firstHome(env), "models");
}
