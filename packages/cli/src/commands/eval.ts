// `first eval`: quality and cost of a model (and a layer policy) on a task or
// a JSONL file; a summary table, or one JSON object with --json.
import { checkpointIdentity, claimRunFolder, evaluate, getTask, METRICS, TASKS, type EvalSummary, type MetricName } from "@first/eval";
import { defineCommand } from "../command.js";
import { UsageError } from "../args.js";
import { formatBytes, formatDuration } from "../progress.js";
import { applyLayerFlags, resolveFirstFlag, layerFlags, modelFlags, openModel } from "./generation-flags.js";
import { compareFlags, runCompare } from "./eval-compare.js";

export const evalCommand = defineCommand({
  name: "eval",
  summary: "Evaluate quality and speed on a task or a JSONL file",
  description: [
    "Runs the evaluation split of --task (see the list below) or the examples of --data, one at a time,",
    "with greedy decoding and the layers chosen by --policy or --routers (default: all).",
    "--data lines: {prompt, reference} or {messages, reference} (generation, --metric rouge|bleu|chrf|squad|numeric),",
    "{query, choices, gold} (multiple choice, loglik) or {text} (perplexity).",
    "With --out DIR every example is appended to DIR/examples.jsonl as it finishes and DIR/summary.json is written at",
    "the end; rerunning with the same --out skips the examples already there for the same task and policy (a folder",
    "holding results of another model, routers or adapter is refused).",
    "--json prints {task, policy, quality, latency, executedLayers, skippedLayers, kvBytesPerSequence, examples}.",
    "--compare with --routers: a LoRA adapter trained with the routers (--lora, or the routers folder's lora/) adds the",
    "rows first+lora and full+lora; every other row runs on the base model. --budgets 27,24,21 (or --max-layers N) puts",
    "FiRST at layer budgets instead of thresholds; --baseline-lora uls:9=DIR adds uls:9+lora, a baseline with its own adapter.",
    "",
    "Tasks:",
    ...TASKS.map((t) => `  ${t.name.padEnd(22)} ${t.description}`),
    "  llm_foundry_mc:<set>   one multiple-choice set (arc_easy, piqa, boolq, ...)",
  ].join("\n"),
  flags: {
    ...modelFlags,
    task: { type: "string", help: "task name (see below)", valueName: "name" },
    data: { type: "string", help: "JSONL file of examples instead of a task", valueName: "file" },
    metric: { type: "string", help: "metric for --data", choices: METRICS },
    ...layerFlags,
    limit: { type: "int", help: "evaluate only the first n examples", min: 1, valueName: "n" },
    maxTokens: { type: "int", short: "n", help: "most tokens to generate per example (default: the task's)", min: 1 },
    out: { type: "string", help: "folder for examples.jsonl and summary.json (resumable)", valueName: "dir" },
    json: { type: "boolean", help: "print one JSON object" },
    ...compareFlags,
  },
  examples: [
    "first eval --task scitldr --limit 20",
    "first eval --task llm_foundry_mc --policy uls:6 --limit 100 --out results/mc",
    "first eval --task scitldr --routers packages/core/shipped/smollm2-135m-instruct-mix-routers-lora --lora packages/core/shipped/smollm2-135m-instruct-mix-routers-lora/lora --json",
    "first eval --compare --task scitldr,adversarial_qa_t0 --limit 50 --out cmp   # uses the shipped routers and adapter",
    "first eval --data my.jsonl --metric squad",
  ],
  async run({ flags, signal }) {
    flags = await resolveFirstFlag(flags);
    if (flags.compare) return runCompare(flags, signal);
    if ((flags.task === undefined) === (flags.data === undefined)) throw new UsageError("give --task NAME or --data FILE");
    if (flags.metric !== undefined && flags.data === undefined) throw new UsageError("--metric applies to --data (tasks have their own metrics)");
    if (flags.task !== undefined) {
      try {
        getTask(flags.task);
      } catch {
        throw new UsageError(`unknown task "${flags.task}"; tasks: ${TASKS.map((t) => t.name).join(", ")}, llm_foundry_mc:<set>`);
      }
    }
    const model = await openModel(flags);
    try {
      const layers = await applyLayerFlags(model, flags, {});
      const budget = flags.maxLayers !== undefined ? `:max${flags.maxLayers}` : flags.skipRatio !== undefined ? `:skip${flags.skipRatio}` : "";
      const policy = flags.routers !== undefined
        ? `routers:${flags.routers}${flags.threshold === undefined ? "" : `@${flags.threshold}`}${budget}`
        : (flags.policy ?? "full");
      // Resuming --out must not mix in examples made with other weights (same labels, another adapter or model).
      if (flags.out !== undefined)
        claimRunFolder(flags.out, {
          model: model.path,
          ...(flags.routers !== undefined ? { routers: await checkpointIdentity(flags.routers) } : {}),
          ...(flags.lora !== undefined ? { lora: await checkpointIdentity(flags.lora) } : {}),
        }, "refuse");
      const progress = exampleProgress(flags.task ?? flags.data!);
      const { summary } = await evaluate(model, {
        task: flags.task,
        dataFile: flags.data,
        metric: flags.metric as MetricName | undefined,
        dataDir: flags.dataDir,
        policy,
        plan: layers.plan,
        routers: layers.routers,
        threshold: layers.threshold,
        layerBudget: layers.layerBudget,
        skipRatio: layers.skipRatio,
        limit: flags.limit,
        maxTokens: flags.maxTokens,
        out: flags.out,
        signal,
        onExample: (_r, p) => progress.update(p.done, p.total, p.resumed),
      }).finally(() => progress.done());
      process.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary, model.config.nLayers, flags.out));
      return 0;
    } finally {
      await model.close();
    }
  },
});

/** Examples done, rate and time left on stderr: redrawn on a terminal, a line every 5 s otherwise. */
function exampleProgress(label: string) {
  const stream = process.stderr;
  const tty = stream.isTTY === true;
  const start = Date.now();
  let last = 0;
  let resumed = 0;
  let drawn = false;
  return {
    update(done: number, total: number, wasResumed: boolean) {
      if (wasResumed) resumed++;
      const now = Date.now();
      if (now - last < (tty ? 200 : 5000) && done < total) return;
      last = now;
      const computed = done - resumed;
      const rate = computed / Math.max(1e-3, (now - start) / 1000);
      const parts = [label, `${done}/${total}`];
      if (tty) parts.splice(1, 0, `[${"#".repeat(Math.round((done / total) * 24)).padEnd(24, ".")}]`);
      if (resumed > 0) parts.push(`(${resumed} resumed)`);
      if (computed > 0) parts.push(`${rate.toFixed(2)} ex/s`, `ETA ${formatDuration((total - done) / rate)}`);
      stream.write(tty ? `\r${parts.join("  ")}\x1b[K` : `${parts.join("  ")}\n`);
      drawn = tty;
    },
    done() {
      if (drawn) stream.write("\n");
      drawn = false;
    },
  };
}

function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(4);
}

function formatSummary(s: EvalSummary, nLayers: number, out: string | undefined): string {
  const skipped = s.skippedLayers
    .map((f, l) => [l, f] as const)
    .filter(([, f]) => f > 0)
    .map(([l, f]) => `${l} (${Math.round(f * 100)}%)`);
  const l = s.latency;
  const rows: [string, string][] = [
    ["task", s.task],
    ["policy", s.policy],
    ["examples", String(s.examples)],
    ["quality", Object.entries(s.quality).map(([k, v]) => `${k} ${formatNumber(v)}`).join("  ")],
    ["prefill", `${l.prefillMsMedian.toFixed(1)} ms median`],
    [
      "decode",
      l.msPerOutputToken > 0
        ? `${l.decodeMsMedian.toFixed(1)} ms median, ${l.msPerOutputToken.toFixed(1)} ms/token (${l.decodeTokensPerSecond.toFixed(1)} tok/s)`
        : `${l.decodeMsMedian.toFixed(1)} ms median (scoring)`,
    ],
    ["layers", `${s.executedLayers.toFixed(2)} of ${nLayers} executed on average`],
    ["skipped", skipped.length > 0 ? skipped.join(", ") : "none"],
    ["KV cache", `${formatBytes(s.kvBytesPerSequence)} per sequence`],
  ];
  if (out !== undefined) rows.push(["results", out]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join("\n")}\n`;
}
