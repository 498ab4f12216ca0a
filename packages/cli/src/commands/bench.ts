// `first bench`: prompt-processing and token-generation speed in the manner
// of llama-bench, with llama.cpp side by side when node-llama-cpp is installed.
import os from "node:os";
import { nativeAddon, resolveModelPath } from "@first/core";
import { runSpeedBench, runTradeoffBench, speedTable, tradeoffTable } from "@first/bench";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { applyLayerFlags, layerFlags, modelFlags, resolveFirstFlag } from "./generation-flags.js";

/** "1,2,4" -> [1, 2, 4]. */
export function parseThreadList(list: string): number[] {
  const parts = list.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UsageError("--threads needs at least one count, e.g. --threads 1,2");
  return parts.map((s) => {
    if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 1024) throw new UsageError(`--threads: "${s}" is not a thread count between 1 and 1024`);
    return Number(s);
  });
}

/** "avx512,avx2" -> ["avx512", "avx2"]; "all" -> every set this CPU has. */
export function parseKernelList(list: string): string[] {
  const available = nativeAddon().kernelSets();
  if (list.trim() === "all") return available;
  const parts = list.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UsageError("--kernels needs at least one kernel set, e.g. --kernels avx512,avx2");
  for (const p of parts) {
    if (!["avx512", "avx2", "scalar"].includes(p)) throw new UsageError(`--kernels: "${p}" is not a kernel set (avx512, avx2, scalar or all)`);
    if (!available.includes(p)) throw new UsageError(`--kernels: this CPU cannot run the ${p} kernels (it has ${available.join(", ")})`);
  }
  return [...new Set(parts)];
}

export const benchCommand = defineCommand({
  name: "bench",
  summary: "Measure prompt and generation speed (like llama-bench), beside llama.cpp",
  description: [
    "Times prompt processing (pp<N>: a prompt of --prompt-tokens tokens) and token generation",
    "(tg<N>: --gen-tokens greedy tokens, one at a time) --reps times after one warm-up, at each",
    "thread count, and prints tokens per second as mean ± standard deviation.",
    "With --peer (on when node-llama-cpp is installed), llama.cpp runs the same prompt ids on the",
    "same file, rep for rep, alternating which engine goes first. --policy or --routers apply",
    "to our engine only. The prompt is WikiText-2 text from the datasets folder when found.",
    "--kernels compares our kernel sets (e.g. avx512,avx2) rep by rep in the same process. At each",
    "thread count the machine's read bandwidth is measured too, and each decode row says what share",
    "of a step the bandwidth limit is (bytes a step reads: weights and KV cache, over bandwidth).",
    "",
    "With an adapter (--lora DIR, or --first for the shipped routers and adapter), it measures the",
    "FiRST trade-off instead: full, full+lora, first, first+lora, uls:k and uls:k+lora (k = the",
    "routers' skipped layers with the adapter), alternating rep by rep on --reps different WikiText",
    "prompts, each continued for --gen-tokens greedy tokens; ms per token medians and the speed",
    "against the full model of the same run, at each thread count.",
  ].join("\n"),
  flags: {
    model: modelFlags.model,
    lora: modelFlags.lora,
    threads: { type: "string", short: "t", help: "comma-separated thread counts (default: 1 and all cores)", valueName: "list" },
    promptTokens: { type: "int", help: "prompt length in tokens", default: 512, min: 1 },
    genTokens: { type: "int", help: "tokens to generate", default: 128, min: 1 },
    reps: { type: "int", short: "r", help: "repetitions per test", default: 5, min: 1 },
    ...layerFlags,
    peer: { type: "boolean", help: "run llama.cpp side by side (--no-peer: our engine only)", default: true },
    bandwidth: { type: "boolean", help: "measure the read bandwidth and set decode against it (--no-bandwidth: skip)", default: true },
    kernels: {
      type: "string",
      help: "our kernel sets to compare, comma-separated, alternating rep by rep: avx512, avx2, scalar, or all (default: the best the CPU has)",
      valueName: "list",
    },
    json: { type: "boolean", help: "print the results as one JSON object" },
  },
  examples: [
    "first bench",
    "first bench --threads 1,2,4 --reps 3 --prompt-tokens 256 --gen-tokens 64",
    "first bench --policy uls:6 --no-peer --json",
    "first bench --kernels all --threads 1,2 --reps 3",
    "first bench --first --reps 10 --prompt-tokens 64 --gen-tokens 96",
  ],
  async run({ flags, signal }) {
    flags = await resolveFirstFlag(flags);
    const threads = flags.threads !== undefined ? parseThreadList(flags.threads) : [...new Set([1, os.availableParallelism()])];
    if (flags.lora !== undefined) {
      if (flags.routers === undefined) throw new UsageError("the trade-off benchmark (--lora) needs routers: --first or --routers DIR");
      if (flags.policy !== undefined) throw new UsageError("--policy does not apply with --lora: the trade-off benchmark runs its own set of configurations");
      if (flags.kernels !== undefined) throw new UsageError("--kernels applies to the speed benchmark, not the trade-off one (--lora)");
      const modelPath = await resolveModelPath(flags.model, { pull: true });
      const result = await runTradeoffBench({
        modelPath,
        routersDir: flags.routers,
        loraDir: flags.lora,
        threshold: flags.threshold,
        layerBudget: flags.maxLayers,
        threads,
        reps: flags.reps,
        genTokens: flags.genTokens,
        promptTokens: flags.promptTokens,
        dataDir: flags.dataDir,
        onProgress: flags.json ? undefined : (m) => process.stderr.write(`${m}\n`),
        signal,
      });
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `\n${tradeoffTable(result)}`);
      if (result.droppedPrompts.length > 0)
        process.stderr.write(`note: prompts ${result.droppedPrompts.join(", ")} left out (a configuration ended them at its first token)\n`);
      return 0;
    }
    if (flags.policy !== undefined && flags.routers !== undefined) throw new UsageError("give either --policy or --routers, not both");
    if (flags.threshold !== undefined && flags.routers === undefined) throw new UsageError("--threshold applies to --routers");
    const modelPath = await resolveModelPath(flags.model, { pull: true });
    const policy = flags.policy ?? (flags.routers !== undefined ? (flags.threshold !== undefined ? `first@${flags.threshold}` : "first") : "full");
    const layered = flags.policy !== undefined || flags.routers !== undefined;
    const result = await runSpeedBench({
      modelPath,
      threads,
      promptTokens: flags.promptTokens,
      genTokens: flags.genTokens,
      reps: flags.reps,
      policy,
      layers: layered
        ? async (model) => {
            const o = await applyLayerFlags(model, flags, {});
            return { plan: o.plan, routers: o.routers, threshold: o.threshold };
          }
        : undefined,
      peer: flags.peer,
      kernels: flags.kernels !== undefined ? parseKernelList(flags.kernels) : undefined,
      bandwidth: flags.bandwidth,
      dataDir: flags.dataDir,
      onProgress: flags.json ? undefined : (m) => process.stderr.write(`${m}\n`),
      signal,
    });
    for (const note of result.notes) process.stderr.write(`note: ${note}\n`);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    process.stdout.write(`\n${speedTable(result)}`);
    const peer = result.peer;
    const lines = [`${result.model.file}; prompt text: ${result.promptSource}; ${result.reps} reps after 1 warm-up`];
    if (layered) lines.push(`layers executed by our engine: ${result.executedLayers.toFixed(1)} (policy ${result.policy})`);
    if (peer && "greedyAgreement" in peer && !layered) {
      const agree = threads.map((t) => peer.greedyAgreement[t]).join(" / ");
      lines.push(`llama.cpp ${peer.llamaCppRelease} (node-llama-cpp ${peer.nodeLlamaCppVersion}); greedy tokens identical for the first ${agree} of ${result.decodeSteps + 1}`);
    }
    process.stdout.write(`\n${lines.join("\n")}\n`);
    return 0;
  },
});
