// `first distill`: the model's own greedy responses to a training set's
// prompts, as chat training data (sequence-level distillation).
import { findDataDir, loadModel, resolveModelPath } from "@first/core";
import { codecForModel, distillExamples, mixExamples, MIX_TASKS, parseMixCounts, readJsonlExamples } from "@first/train";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";
import { modelFlags } from "./generation-flags.js";

export const distillCommand = defineCommand({
  name: "distill",
  summary: "Write the model's own responses to training prompts (distillation data for first train)",
  description: [
    "Generates the full model's greedy response to each prompt of --data (a JSONL file of {\"messages\"}",
    "or {\"prompt\", \"response\"} lines, or 'mix') and writes {\"messages\": [... , {\"role\": \"assistant\", ...}],",
    "\"truncated\"} lines to --out, appending as they finish: a rerun with the same flags continues.",
    "Routers and adapters trained on these learn to reproduce the full model, not a task's references.",
    "Prompts longer than --max-prompt-tokens are shortened in the middle first, as first train does.",
  ].join("\n"),
  flags: {
    model: modelFlags.model,
    threads: modelFlags.threads,
    data: { type: "string", help: "prompts: a JSONL file or 'mix'", valueName: "file" },
    out: { type: "string", short: "o", help: "output JSONL file (appended to; a rerun continues)", valueName: "file" },
    maxTokens: { type: "int", short: "n", help: "most tokens per response", default: 96, min: 1 },
    maxPromptTokens: { type: "int", help: "prompt tokens kept (the middle of a longer prompt is cut)", default: 160, min: 16 },
    concurrency: { type: "int", help: "generations decoded together in one batch", default: 8, min: 1, max: 64 },
    dataDir: { type: "string", help: "datasets folder for 'mix' (default: $FIRST_DATA or ../shared/data)", valueName: "dir" },
    mixPerTask: { type: "int", help: "examples per task in 'mix'", default: 500, min: 1 },
    mixCounts: { type: "string", help: `examples of some tasks in 'mix', e.g. instructions=900,math=0 (${MIX_TASKS.join(", ")})`, valueName: "list" },
    seed: { type: "int", help: "seed of the mix's subsets and order", default: 0, min: 0 },
  },
  examples: ["first distill --data mix --mix-per-task 150 --mix-counts instructions=900 --out runs/distill.jsonl"],
  async run({ flags: f, signal }) {
    if (f.data === undefined) throw new UsageError("--data is required (a JSONL file or 'mix')");
    if (f.out === undefined) throw new UsageError("--out is required");
    let counts;
    try {
      counts = f.mixCounts === undefined ? undefined : parseMixCounts(f.mixCounts);
    } catch (e) {
      throw new UsageError(`--mix-counts: ${(e as Error).message}`);
    }
    const examples = f.data === "mix"
      ? mixExamples(findDataDir(f.dataDir), { perTask: f.mixPerTask, counts, seed: f.seed })
      : readJsonlExamples(f.data);
    const path = await resolveModelPath(f.model, { pull: true });
    const model = await loadModel(path, { threads: f.threads, maxSequences: f.concurrency, pull: false });
    const started = Date.now();
    let last = 0;
    try {
      const written = await distillExamples(model, codecForModel(path), {
        examples,
        out: f.out,
        maxTokens: f.maxTokens,
        maxPromptTokens: f.maxPromptTokens,
        concurrency: f.concurrency,
        signal,
        onProgress: (done, total) => {
          if (Date.now() - last < 5000 && done < total) return;
          last = Date.now();
          process.stderr.write(`distill ${done}/${total}  ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
        },
      });
      process.stdout.write(`${written} responses written to ${f.out}\n`);
      return signal.aborted ? 130 : 0;
    } finally {
      await model.close();
    }
  },
});
