// Running the built `first` binary as a user runs it, for the CLI tests.
// Needs `pnpm build` first (turbo runs it before the tests).
import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const MAIN = fileURLToPath(new URL("../../dist/main.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** FIRST_HOME for the run. */
  home: string;
  /** FIRST_DEBUG=1 (stack traces on failure) instead of off. */
  debug?: boolean;
  env?: Record<string, string>;
  timeout?: number;
  /** Standard input (e.g. "" so that nothing waits on a terminal). */
  input?: string;
}

function environment(o: CliOptions): NodeJS.ProcessEnv {
  return { ...process.env, FIRST_HOME: o.home, FIRST_DEBUG: o.debug ? "1" : "", ...o.env };
}

/** Fails with a clear message when the CLI has not been built. */
export function requireBuiltCli(): void {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run \`pnpm build\` first`);
}

/** Runs `first ...args` to completion. */
export function runCli(args: string[], o: CliOptions): CliResult {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8", env: environment(o), timeout: o.timeout ?? 60_000, input: o.input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `first ...args` without blocking this process (e.g. while it serves a download). */
export function runCliAsync(args: string[], o: CliOptions): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { env: environment(o), timeout: o.timeout ?? 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code) : 0, stdout, stderr }),
    );
  });
}
