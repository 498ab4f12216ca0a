// Declarative command-line parsing. A command declares its flags (type,
// default, help) and positional arguments once; parsing and the --help text
// are both generated from that declaration, so they cannot drift apart.

/** "list": a string flag that may be given several times; its value is every one given, in order. */
export type FlagType = "string" | "number" | "int" | "boolean" | "list";

export interface FlagSpec {
  type: FlagType;
  help: string;
  /** One-letter alias, used as `-x`. */
  short?: string;
  default?: string | number | boolean;
  /** Placeholder in help, e.g. "n" for `--threads <n>`. */
  valueName?: string;
  /** Allowed values of a string flag. */
  choices?: readonly string[];
  /** Inclusive bounds of a number or int flag. */
  min?: number;
  max?: number;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface PositionalSpec {
  name: string;
  help: string;
  required?: boolean;
  /** Takes all remaining arguments; only the last positional may be variadic. */
  variadic?: boolean;
}

type ValueOf<S extends FlagSpec> = S["type"] extends "boolean" ? boolean : S["type"] extends "string" ? string : S["type"] extends "list" ? string[] : number;

/** Parsed flag values: flags with a default (and booleans) are always set, others may be undefined. */
export type FlagValues<F extends FlagSpecs> = {
  [K in keyof F]: F[K] extends { default: string | number | boolean }
    ? ValueOf<F[K]>
    : F[K]["type"] extends "boolean"
      ? boolean
      : F[K]["type"] extends "list"
        ? string[]
        : ValueOf<F[K]> | undefined;
};

export interface ParsedArgs<F extends FlagSpecs> {
  flags: FlagValues<F>;
  positionals: string[];
}

/** A mistake in how the command was called. The CLI prints it and exits with status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** `maxTokens` is written `--max-tokens` on the command line. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT = /^[+-]?\d+$/;

/** True when `argv` asks for help (before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === "--") return false;
    if (arg === "--help" || arg === "-h") return true;
  }
  return false;
}

export function parseArgs<F extends FlagSpecs>(
  argv: readonly string[],
  flags: F,
  positionals: readonly PositionalSpec[] = [],
): ParsedArgs<F> {
  const byName = new Map<string, string>();
  const byShort = new Map<string, string>();
  for (const [key, spec] of Object.entries(flags)) {
    byName.set(flagName(key), key);
    if (spec.short !== undefined) byShort.set(spec.short, key);
  }

  const values: Record<string, string | number | boolean | string[] | undefined> = {};
  for (const [key, spec] of Object.entries(flags)) {
    values[key] = spec.type === "list" ? [] : (spec.default ?? (spec.type === "boolean" ? false : undefined));
  }
  const rest: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-" || NUMBER.test(arg)) {
      rest.push(arg);
      continue;
    }

    const long = arg.startsWith("--");
    const eq = arg.indexOf("=");
    const written = eq >= 0 ? arg.slice(0, eq) : arg;
    const inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    const bare = written.slice(long ? 2 : 1);

    let key = long ? byName.get(bare) : byShort.get(bare);
    let negated = false;
    if (key === undefined && long && bare.startsWith("no-")) {
      const positive = byName.get(bare.slice(3));
      if (positive !== undefined && flags[positive].type === "boolean") {
        key = positive;
        negated = true;
      }
    }
    if (key === undefined) {
      const hint = suggest(bare, [...byName.keys()]);
      throw new UsageError(`unknown flag ${written}${hint === undefined ? "" : ` (did you mean --${hint}?)`}`);
    }

    const spec = flags[key];
    const shown = `--${flagName(key)}`;
    if (spec.type === "boolean") {
      if (inline === undefined) values[key] = !negated;
      else if (negated) throw new UsageError(`${written} takes no value`);
      else if (inline === "true" || inline === "false") values[key] = inline === "true";
      else throw new UsageError(`${shown} is a switch: give it alone, or as ${shown}=true / ${shown}=false`);
      continue;
    }

    let raw = inline;
    if (raw === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-" && !NUMBER.test(next))) {
        throw new UsageError(`${shown} needs a value${next === undefined ? "" : ` (write ${shown}=<value> for a value starting with -)`}`);
      }
      raw = next;
      i++;
    }
    if (spec.type === "list") (values[key] as string[]).push(raw);
    else values[key] = convert(raw, spec, shown);
  }

  checkPositionals(rest, positionals);
  return { flags: values as FlagValues<F>, positionals: rest };
}

function convert(raw: string, spec: FlagSpec, shown: string): string | number {
  if (spec.type === "string") {
    if (spec.choices !== undefined && !spec.choices.includes(raw)) {
      throw new UsageError(`${shown} must be one of ${spec.choices.join(", ")}; got "${raw}"`);
    }
    return raw;
  }
  const isInt = spec.type === "int";
  if (!(isInt ? INT : NUMBER).test(raw.trim())) {
    throw new UsageError(`${shown} expects ${isInt ? "an integer" : "a number"}; got "${raw}"`);
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || (isInt && !Number.isSafeInteger(value))) {
    throw new UsageError(`${shown} is out of range: ${raw}`);
  }
  if (spec.min !== undefined && value < spec.min) throw new UsageError(`${shown} must be at least ${spec.min}; got ${raw}`);
  if (spec.max !== undefined && value > spec.max) throw new UsageError(`${shown} must be at most ${spec.max}; got ${raw}`);
  return value;
}

function checkPositionals(given: readonly string[], specs: readonly PositionalSpec[]): void {
  const required = specs.filter((p) => p.required).length;
  if (given.length < required) {
    throw new UsageError(`missing argument <${specs[given.length].name}>`);
  }
  const variadic = specs.at(-1)?.variadic === true;
  if (!variadic && given.length > specs.length) {
    const extra = given[specs.length];
    throw new UsageError(
      specs.length === 0 ? `unexpected argument "${extra}"` : `unexpected extra argument "${extra}" (this command takes ${specs.length})`,
    );
  }
}

/** The closest of `candidates` to `word`, if it is a plausible typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/** Usage text for a command, generated from its declaration. */
export function formatUsage(
  program: string,
  command: { name: string; summary: string; description?: string; flags: FlagSpecs; positionals?: readonly PositionalSpec[]; examples?: readonly string[] },
): string {
  const positionals = command.positionals ?? [];
  const synopsis = positionals
    .map((p) => {
      const name = `<${p.name}>${p.variadic ? "..." : ""}`;
      return p.required ? name : `[${name}]`;
    })
    .join(" ");
  const lines = [`Usage: ${program} ${command.name}${synopsis ? ` ${synopsis}` : ""} [flags]`, "", command.summary];
  if (command.description) lines.push("", command.description);

  const table = (rows: [string, string][]) => {
    const width = Math.max(...rows.map(([left]) => left.length));
    return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`);
  };
  if (positionals.length > 0) {
    lines.push("", "Arguments:", ...table(positionals.map((p) => [`<${p.name}>`, p.help])));
  }

  const rows: [string, string][] = Object.entries(command.flags).map(([key, spec]) => {
    const value = spec.type === "boolean" ? "" : ` <${spec.valueName ?? (spec.type === "string" || spec.type === "list" ? "value" : spec.type === "int" ? "n" : "x")}>`;
    const left = `${spec.short !== undefined ? `-${spec.short}, ` : "    "}--${flagName(key)}${value}`;
    const notes: string[] = [];
    if (spec.choices !== undefined) notes.push(`one of: ${spec.choices.join(", ")}`);
    if (spec.default !== undefined && spec.default !== false) notes.push(`default: ${spec.default}`);
    return [left, notes.length > 0 ? `${spec.help} (${notes.join("; ")})` : spec.help];
  });
  rows.push(["-h, --help", "show this help"]);
  lines.push("", "Flags:", ...table(rows));

  if (command.examples !== undefined && command.examples.length > 0) {
    lines.push("", "Examples:", ...command.examples.map((e) => `  ${e}`));
  }
  return `${lines.join("\n")}\n`;
}
