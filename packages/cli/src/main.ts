#!/usr/bin/env node
// The `first` command line: dispatches to subcommands and turns errors into
// messages and exit codes (0 ok, 1 failure, 2 usage error, 130 interrupted).
import { AbortedError, FirstError, InvalidOptionError, VERSION } from "@first/core";
import { formatUsage, parseArgs, suggest, UsageError, wantsHelp } from "./args.js";
import type { Command } from "./command.js";
import { benchCommand } from "./commands/bench.js";
import { chatCommand } from "./commands/chat.js";
import { distillCommand } from "./commands/distill.js";
import { evalCommand } from "./commands/eval.js";
import { inspectCommand } from "./commands/inspect.js";
import { pullCommand } from "./commands/pull.js";
import { runCommand } from "./commands/run.js";
import { serveCommand } from "./commands/serve.js";
import { trainCommand } from "./commands/train.js";

const PROGRAM = "first";

// Each command is one entry here (plus its import).
const COMMANDS: readonly Command[] = [pullCommand, inspectCommand, runCommand, chatCommand, benchCommand, evalCommand, distillCommand, trainCommand, serveCommand];

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `Usage: ${PROGRAM} <command> [arguments] [flags]`,
    "",
    "Run language models on the CPU from GGUF files, skipping layers with FiRST routers.",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Flags:",
    "  -h, --help     show help (also after a command: first <command> --help)",
    "  -v, --version  print the version",
    "",
    "Environment: FIRST_HOME (cache folder, default ~/.cache/first), FIRST_DEBUG=1 (stack traces), FIRST_API_KEY (serve).",
    "",
  ].join("\n");
}

async function dispatch(argv: readonly string[], signal: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    process.stderr.write(topHelp());
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    const about = rest[0] === undefined ? undefined : findCommand(rest[0]);
    process.stdout.write(about === undefined ? topHelp() : formatUsage(PROGRAM, about));
    return 0;
  }
  if (name === "--version" || name === "-v") {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (name.startsWith("-")) throw new UsageError(`unknown flag ${name}; flags go after the command`);

  const command = findCommand(name);
  if (wantsHelp(rest)) {
    process.stdout.write(formatUsage(PROGRAM, command));
    return 0;
  }
  const parsed = parseArgs(rest, command.flags, command.positionals);
  return command.run({ ...parsed, signal });
}

function findCommand(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name);
  if (command !== undefined) return command;
  const hint = suggest(name, COMMANDS.map((c) => c.name));
  throw new UsageError(`unknown command "${name}"${hint === undefined ? "" : ` (did you mean "${hint}"?)`}`);
}

/** Runs the CLI and resolves to the exit code; never throws. */
async function runCli(argv: readonly string[]): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write("\ninterrupted; stopping (press Ctrl-C again to quit at once)\n");
    controller.abort(new AbortedError("interrupted"));
  };
  // SIGTERM stops the same way (a training run saves its checkpoint, a server drains).
  process.on("SIGINT", onSigint);
  process.on("SIGTERM", onSigint);
  try {
    return await dispatch(argv, controller.signal);
  } catch (err) {
    return report(err, argv[0]);
  } finally {
    process.off("SIGINT", onSigint);
    process.off("SIGTERM", onSigint);
  }
}

function report(err: unknown, commandName: string | undefined): number {
  const debug = process.env.FIRST_DEBUG === "1";
  const where = commandName !== undefined && COMMANDS.some((c) => c.name === commandName) ? `${PROGRAM} ${commandName}` : PROGRAM;
  const stack = (e: unknown) => (debug && e instanceof Error && e.stack ? `${e.stack}\n` : "");

  if (err instanceof UsageError) {
    const help = where === PROGRAM ? `${PROGRAM} --help` : `${where} --help`;
    process.stderr.write(`${where}: ${err.message}\nRun '${help}' for usage.\n`);
    return 2;
  }
  if (err instanceof AbortedError) {
    process.stderr.write(`${where}: ${err.message}\n${stack(err)}`);
    return 130;
  }
  if (err instanceof FirstError) {
    process.stderr.write(`${where}: ${err.message}\n${stack(err)}`);
    return err instanceof InvalidOptionError ? 2 : 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(
    `${where}: unexpected error: ${message}\n${debug ? stack(err) : "Set FIRST_DEBUG=1 to see the stack trace.\n"}`,
  );
  return 1;
}

// A closed pipe (`first inspect --tensors | head`) is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

process.exitCode = await runCli(process.argv.slice(2));
