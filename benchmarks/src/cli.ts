// Command-line plumbing shared by the benchmark scripts: option parsing and
// clear failures (a message and exit status 1, never a stack trace).
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Prints `message` and ends the process with status 1. */
export function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(1);
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parses `--name value` options; unknown options and stray arguments fail with a usage line. */
export function parseOptions<O extends Options>(options: O, usage: string): ReturnType<typeof parseArgs<{ options: O }>>["values"] {
  const withHelp = { ...options, help: { type: "boolean" } } as O;
  try {
    const { values } = parseArgs({ options: withHelp, allowPositionals: false, strict: true });
    if ((values as { help?: boolean }).help) {
      console.log(usage);
      process.exit(0);
    }
    return values as ReturnType<typeof parseArgs<{ options: O }>>["values"];
  } catch (err) {
    fail(`${(err as Error).message}\n${usage}`);
  }
}

/** A positive integer option, or `fallback` when absent. */
export function intOption(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

/** A comma-separated list of integers >= min (default 1), e.g. "1,2". */
export function intListOption(name: string, value: string | undefined, fallback: number[], min = 1): number[] {
  if (value === undefined) return fallback;
  const list = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) fail(`--${name} needs at least one value`);
  return list.map((s) => intOption(name, s, 1, min));
}
