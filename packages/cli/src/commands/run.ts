// `first run`: complete one prompt and print the text (or one JSON object).
import { readFileSync } from "node:fs";
import { summarizeValues } from "@first/bench";
import type { ChatMessage, GenerateOptions, GenerationResult, LoadedModel } from "@first/core";
import { defineCommand } from "../command.js";
import { UsageError } from "../args.js";
import { applyLayerFlags, resolveFirstFlag, generateOptions, layerFlags, modelFlags, openModel, samplingFlags } from "./generation-flags.js";

export const runCommand = defineCommand({
  name: "run",
  summary: "Generate a completion for one prompt",
  description: [
    "Completes --prompt as raw text, or as a user message with the model's chat template (--chat).",
    "Text streams to stdout; timings go to stderr. With --json, one object is printed:",
    '{"text", "promptTokenIds", "tokens", "finishReason", "executedLayers", "skippedLayers", "kvBytes",',
    ' "timings": {"prefillMs", "decodeMs", "prefillTokensPerSecond", "decodeTokensPerSecond"}}',
    '(plus "routerProbabilities" with --routers). Layers are chosen by --policy or --routers (default: all).',
    "--first uses the routers and adapter shipped for the model; --vs-full then times the plain full model on",
    'the same prompt too (with --json: a "full" object with its executedLayers and timings).',
    "Without --prompt the prompt is read from standard input.",
  ].join("\n"),
  flags: {
    ...modelFlags,
    prompt: { type: "string", short: "p", help: "the prompt text", valueName: "text" },
    chat: { type: "boolean", help: "apply the chat template (the prompt is the user message)" },
    system: { type: "string", help: "system message when --chat is given", valueName: "text" },
    ...layerFlags,
    ...samplingFlags,
    json: { type: "boolean", help: "print one JSON object instead of streaming text" },
    vsFull: { type: "boolean", help: "then run the plain full model (no routers, no adapter) on the same prompt, time both 5 more times alternating (64 tokens each, past any end of text), and print the median speeds" },
  },
  examples: [
    'first run --prompt "The capital of France is" --temperature 0',
    'first run --chat --prompt "Write a haiku about autumn" --json',
    'first run --first --vs-full --prompt "The capital of France is" --temperature 0',
    'first run --first --max-layers 21 --chat --prompt "Summarize: ..." --json',
    'first run --policy uls:9 --prompt "Once upon a time" --temperature 0 --json',
    'first run --routers packages/core/shipped/smollm2-135m-instruct-mix-routers-lora --chat --prompt "Summarize: ..."',
  ],
  async run({ flags, signal }) {
    const prompt = flags.prompt ?? (process.stdin.isTTY ? undefined : readFileSync(0, "utf8"));
    if (prompt === undefined || prompt.length === 0) throw new UsageError("give a prompt with --prompt (or on standard input)");
    flags = await resolveFirstFlag(flags);
    const model = await openModel(flags);
    try {
      const input = flags.chat
        ? [...(flags.system ? [{ role: "system", content: flags.system }] : []), { role: "user", content: prompt }]
        : prompt;
      const options = await applyLayerFlags(model, flags, generateOptions(flags, signal));
      const gen = model.generate(input, options);
      if (!flags.json) for await (const chunk of gen) process.stdout.write(chunk.text);
      const r = await gen.result;
      const vs = flags.vsFull ? await compareWithFull(model, options, flags, input, signal) : undefined;
      const full = vs?.full;
      if (flags.json) {
        process.stdout.write(
          `${JSON.stringify({
            text: r.text,
            promptTokenIds: r.promptTokenIds,
            tokens: r.tokens,
            finishReason: r.finishReason,
            executedLayers: r.executedLayers,
            skippedLayers: r.skippedLayers,
            ...(r.routerProbabilities ? { routerProbabilities: r.routerProbabilities } : {}),
            kvBytes: r.kvBytes,
            timings: r.timings,
            ...(full ? { full: { text: full.text, executedLayers: full.executedLayers, kvBytes: full.kvBytes, timings: full.timings } } : {}),
            ...(vs ? { comparison: vs.comparison } : {}),
          })}\n`,
        );
      } else {
        const t = r.timings;
        process.stdout.write("\n");
        process.stderr.write(
          `prefill: ${r.promptTokenIds.length} tokens in ${t.prefillMs.toFixed(1)} ms (${t.prefillTokensPerSecond.toFixed(1)} tok/s); ` +
            `decode: ${r.tokens.length} tokens, ${t.decodeTokensPerSecond.toFixed(1)} tok/s; ` +
            `layers: ${r.executedLayers}/${model.config.nLayers}\n`,
        );
        if (vs) {
          const f = vs.full.timings, c = vs.comparison;
          process.stderr.write(
            `full model: ${f.decodeTokensPerSecond.toFixed(1)} tok/s decode, ${f.prefillTokensPerSecond.toFixed(1)} tok/s prefill, ` +
              `layers ${vs.full.executedLayers}/${model.config.nLayers}\n` +
              `decode speed-up ${c.decodeSpeedup.toFixed(2)}x (median of ${c.reps} runs of each, ${c.tokens} tokens, alternating: ` +
              `${c.decodeTokensPerSecond.this.toFixed(1)} vs ${c.decodeTokensPerSecond.full.toFixed(1)} tok/s)\n`,
          );
        }
      }
      return 0;
    } finally {
      await model.close();
    }
  },
});

/** Timed runs of each configuration for --vs-full; one short generation alone is mostly noise. */
const VS_FULL_REPS = 5;
/**
 * Tokens each timed run generates, past any end of text, so that both sides
 * decode the same number of steps even when the answer is a word or two.
 */
const VS_FULL_TOKENS = 64;

/**
 * The same prompt and sampling on the plain model (a second instance, without
 * adapter or routers), then both again VS_FULL_REPS times, alternating, for
 * the median decode speeds.
 */
async function compareWithFull(
  model: LoadedModel,
  options: GenerateOptions,
  flags: Parameters<typeof openModel>[0] & Parameters<typeof generateOptions>[0],
  input: string | ChatMessage[],
  signal: AbortSignal,
): Promise<{
  full: GenerationResult;
  comparison: { reps: number; tokens: number; decodeTokensPerSecond: { this: number; full: number }; decodeSpeedup: number };
}> {
  const plain = await openModel({ ...flags, lora: undefined });
  try {
    const plainOptions = generateOptions(flags, signal);
    const full = await plain.generate(input, plainOptions).result;
    const timed = { maxTokens: VS_FULL_TOKENS, ignoreEos: true };
    const speeds = { this: [] as number[], full: [] as number[] };
    for (let i = 0; i < VS_FULL_REPS; i++) {
      const order = i % 2 === 0 ? (["full", "this"] as const) : (["this", "full"] as const);
      for (const which of order) {
        const r =
          which === "full"
            ? await plain.generate(input, { ...plainOptions, ...timed }).result
            : await model.generate(input, { ...options, ...timed }).result;
        speeds[which].push(r.timings.decodeTokensPerSecond);
      }
    }
    const median = (v: number[]) => summarizeValues(v).median;
    const decode = { this: median(speeds.this), full: median(speeds.full) };
    return {
      full,
      comparison: { reps: VS_FULL_REPS, tokens: VS_FULL_TOKENS, decodeTokensPerSecond: decode, decodeSpeedup: decode.this / decode.full },
    };
  } finally {
    await plain.close();
  }
}
