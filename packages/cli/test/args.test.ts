// The flag parser and the usage text it generates.
import { describe, expect, it } from "vitest";
import { formatUsage, parseArgs, UsageError, wantsHelp, type FlagSpecs } from "../src/args.js";

const FLAGS = {
  maxTokens: { type: "int", help: "tokens to generate", default: 64, min: 1 },
  temperature: { type: "number", help: "sampling temperature", short: "t" },
  prompt: { type: "string", help: "the prompt", short: "p" },
  router: { type: "string", help: "router mode", choices: ["off", "fixed", "learned"], default: "off" },
  stream: { type: "boolean", help: "stream tokens", default: true },
  json: { type: "boolean", help: "JSON output" },
} satisfies FlagSpecs;

const parse = (argv: string[]) => parseArgs(argv, FLAGS, [{ name: "model", help: "model" }]);

describe("parseArgs", () => {
  it("applies defaults", () => {
    expect(parse([])).toEqual({
      flags: { maxTokens: 64, temperature: undefined, prompt: undefined, router: "off", stream: true, json: false },
      positionals: [],
    });
  });

  it("reads long, short, inline and negated flags", () => {
    const r = parse(["m.gguf", "--max-tokens", "8", "-t", "-0.5", "--prompt=--hi", "--no-stream", "--json", "--router", "fixed"]);
    expect(r.positionals).toEqual(["m.gguf"]);
    expect(r.flags).toMatchObject({ maxTokens: 8, temperature: -0.5, prompt: "--hi", stream: false, json: true, router: "fixed" });
    expect(parse(["--json=false", "-p", "x"]).flags).toMatchObject({ json: false, prompt: "x" });
  });

  it("treats everything after -- as positional", () => {
    expect(parse(["--", "--json"]).positionals).toEqual(["--json"]);
  });

  it.each([
    [["--max-token", "3"], "unknown flag --max-token (did you mean --max-tokens?)"],
    [["-x"], "unknown flag -x"],
    [["--max-tokens"], "--max-tokens needs a value"],
    [["--prompt", "--json"], "--prompt needs a value (write --prompt=<value> for a value starting with -)"],
    [["--max-tokens", "2.5"], '--max-tokens expects an integer; got "2.5"'],
    [["--temperature", "hot"], '--temperature expects a number; got "hot"'],
    [["--temperature", "1e999"], "--temperature is out of range: 1e999"],
    [["--max-tokens", "0"], "--max-tokens must be at least 1; got 0"],
    [["--router", "maybe"], '--router must be one of off, fixed, learned; got "maybe"'],
    [["--json=1"], "--json is a switch"],
    [["--no-json=true"], "--no-json takes no value"],
    [["a", "b"], 'unexpected extra argument "b" (this command takes 1)'],
  ])("rejects %j", (argv, message) => {
    expect(() => parse(argv)).toThrow(UsageError);
    expect(() => parse(argv)).toThrow(message);
  });

  it("checks required and variadic positionals", () => {
    const specs = [
      { name: "model", help: "", required: true },
      { name: "words", help: "", variadic: true },
    ];
    expect(() => parseArgs([], {}, specs)).toThrow("missing argument <model>");
    expect(parseArgs(["m", "a", "b"], {}, specs).positionals).toEqual(["m", "a", "b"]);
  });

  it("finds --help before --", () => {
    expect(wantsHelp(["x", "-h"])).toBe(true);
    expect(wantsHelp(["--", "--help"])).toBe(false);
  });
});

describe("formatUsage", () => {
  it("lists every declared flag with its value name, default and choices", () => {
    const text = formatUsage("first", { name: "run", summary: "Run it", flags: FLAGS, positionals: [{ name: "model", help: "the model" }] });
    expect(text).toContain("Usage: first run [<model>] [flags]");
    expect(text).toMatch(/--max-tokens <n>\s+tokens to generate \(default: 64\)/);
    expect(text).toMatch(/-t, --temperature <x>\s+sampling temperature\n/);
    expect(text).toMatch(/--router <value>\s+router mode \(one of: off, fixed, learned; default: off\)/);
    expect(text).toMatch(/--stream\s+stream tokens \(default: true\)/);
    expect(text).toMatch(/-h, --help\s+show this help/);
  });
});
