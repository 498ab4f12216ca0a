// The "mix" training set: the train splits of summarization, translation,
// question answering and math from the datasets folder, read by the eval
// tasks' loaders (@first/eval's tasks: same prompts as at evaluation), as chat
// examples (one user turn, one assistant turn) for an instruct model.
import type { ChatMessage } from "@first/core";
import { adversarialQa, cnnDailymail, gsm8k, scitldr, t0Mix, wmtEnde, type EvalExample } from "@first/eval";
import type { TrainExample } from "./data.js";
import { TrainRandom } from "./random.js";

export const MIX_TASKS = ["summarization", "translation", "qa", "math", "instructions"] as const;
export type MixTask = (typeof MIX_TASKS)[number];

export interface MixSource {
  name: string;
  task: MixTask;
  read(dataDir: string): TrainExample[];
  /** Taken only when its task's count is given (not by the per-task default). */
  optIn?: boolean;
}

/** The eval tasks' train-split loaders (same prompts as evaluation), by mix task. */
export const MIX_SOURCES: MixSource[] = [
  { name: cnnDailymail.name, task: "summarization", read: (dir) => asChat(cnnDailymail.trainExamples(dir)) },
  { name: scitldr.name, task: "summarization", read: (dir) => asChat(scitldr.trainExamples(dir)) },
  { name: wmtEnde.name, task: "translation", read: (dir) => asChat(wmtEnde.trainExamples(dir)) },
  { name: adversarialQa.name, task: "qa", read: (dir) => asChat(adversarialQa.trainExamples(dir)) },
  // <<48/2=24>> are calculator annotations, not part of the written answer.
  { name: gsm8k.name, task: "math", read: (dir) => asChat(gsm8k.trainExamples(dir), (r) => r.replace(/<<[^>]*>>/g, "")) },
  // Broad instructions (T0 templates); off unless asked for (--mix-counts instructions=N), so the
  // four-task mix of earlier runs stays as it was.
  { name: t0Mix.name, task: "instructions", read: (dir) => asChat(t0Mix.trainExamples(dir)), optIn: true },
];

/** Generation examples -> one user turn (the eval prompt) and one assistant turn (the first reference). */
function asChat(examples: EvalExample[], clean: (reference: string) => string = (r) => r): TrainExample[] {
  return examples.flatMap((e): TrainExample[] => {
    if (e.kind !== "generate" || e.references.length === 0) return [];
    const prompt: ChatMessage[] = typeof e.prompt === "string" ? [{ role: "user", content: e.prompt }] : e.prompt;
    return [{ messages: [...prompt, { role: "assistant", content: clean(e.references[0]).trim() }] }];
  });
}

/** Examples per mix task, for the tasks that differ from the default count. */
export type MixCounts = Partial<Record<MixTask, number>>;

/** Parses "translation=400,qa=100" (a count of 0 leaves the task out). */
export function parseMixCounts(spec: string): MixCounts {
  const counts: MixCounts = {};
  for (const part of spec.split(",").map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z]+)=(\d+)$/.exec(part);
    if (!m) throw new Error(`expected task=count, got "${part}"`);
    if (!(MIX_TASKS as readonly string[]).includes(m[1])) throw new Error(`unknown mix task "${m[1]}" (tasks: ${MIX_TASKS.join(", ")})`);
    counts[m[1] as MixTask] = Number(m[2]);
  }
  return counts;
}

/**
 * The mix: `perTask` examples from each task (or `counts[task]`), a seeded
 * random subset of each source (summarization takes half from each of its two
 * sources; a source with fewer examples gives them all), interleaved by a
 * seeded shuffle. The subset of a source depends on the seed alone, so a
 * larger count adds examples to a smaller one's.
 */
export function mixExamples(dataDir: string, opts: { perTask?: number; counts?: MixCounts; seed?: number } = {}): TrainExample[] {
  const perTask = opts.perTask ?? 500;
  const rng = new TrainRandom(opts.seed ?? 0);
  const byTask = new Map<MixTask, MixSource[]>();
  for (const s of MIX_SOURCES) byTask.set(s.task, [...(byTask.get(s.task) ?? []), s]);
  const all: TrainExample[] = [];
  for (const [task, sources] of byTask) {
    if (sources.every((s) => s.optIn) && opts.counts?.[task] === undefined) continue;
    const share = Math.ceil((opts.counts?.[task] ?? perTask) / sources.length);
    for (const s of sources) {
      const examples = s.read(dataDir);
      all.push(...rng.permutation(examples.length).slice(0, share).map((i) => examples[i]));
    }
  }
  return rng.permutation(all.length).map((i) => all[i]);
}
