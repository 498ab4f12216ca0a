// The shape of a `first` subcommand. main.ts parses the command line from the
// declaration, handles --help, and calls run() with typed values.
import type { FlagSpecs, FlagValues, PositionalSpec } from "./args.js";

export interface CommandArgs<F extends FlagSpecs> {
  flags: FlagValues<F>;
  positionals: string[];
  /** Aborted on the first Ctrl-C; long operations should stop and clean up. */
  signal: AbortSignal;
}

export interface Command<F extends FlagSpecs = FlagSpecs> {
  name: string;
  /** One line, shown in `first --help`. */
  summary: string;
  /** Longer text for `first <name> --help`. */
  description?: string;
  positionals?: readonly PositionalSpec[];
  flags: F;
  examples?: readonly string[];
  /** Does the work; resolves to the process exit code. Throw FirstError subclasses for expected failures. */
  run(args: CommandArgs<F>): Promise<number>;
}

/** Declares a command; keeps the flag declaration's literal types so run() gets typed flags. */
export function defineCommand<const F extends FlagSpecs>(command: Command<F>): Command<F> {
  return command;
}
