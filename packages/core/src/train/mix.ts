// The "mix" training set: the train splits of summarization, translation,
// question answering and math from the datasets folder, read by the eval
// tasks' loaders (eval/tasks: same prompts as at evaluation), as chat
// examples (one user turn, one assistant turn) for an instruct model.
import type { ChatMessage } from "../chat-template.js";
import { adversarialQa } from "../eval/tasks/adversarial-qa.js";
import { cnnDailymail } from "../eval/tasks/cnn-dailymail.js";
import { gsm8k } from "../eval/tasks/gsm8k.js";
import { scitldr } from "../eval/tasks/scitldr.js";
import { wmtEnde } from "../eval/tasks/wmt-ende.js";
import type { EvalExample } from "../eval/types.js";
import type { TrainExample } from "./data.js";
import { TrainRandom } from "./random.js";

export interface MixSource {
  name: string;
  task: "summarization" | "translation" | "qa" | "math";
  read(dataDir: string): TrainExample[];
}

/** The eval tasks' train-split loaders (same prompts as evaluation), by mix task. */
export const MIX_SOURCES: MixSource[] = [
  { name: cnnDailymail.name, task: "summarization", read: (dir) => asChat(cnnDailymail.trainExamples(dir)) },
  { name: scitldr.name, task: "summarization", read: (dir) => asChat(scitldr.trainExamples(dir)) },
  { name: wmtEnde.name, task: "translation", read: (dir) => asChat(wmtEnde.trainExamples(dir)) },
  { name: adversarialQa.name, task: "qa", read: (dir) => asChat(adversarialQa.trainExamples(dir)) },
  // <<48/2=24>> are calculator annotations, not part of the written answer.
  { name: gsm8k.name, task: "math", read: (dir) => asChat(gsm8k.trainExamples(dir), (r) => r.replace(/<<[^>]*>>/g, "")) },
];

/** Generation examples -> one user turn (the eval prompt) and one assistant turn (the first reference). */
function asChat(examples: EvalExample[], clean: (reference: string) => string = (r) => r): TrainExample[] {
  return examples.flatMap((e): TrainExample[] => {
    if (e.kind !== "generate" || e.references.length === 0) return [];
    const prompt: ChatMessage[] = typeof e.prompt === "string" ? [{ role: "user", content: e.prompt }] : e.prompt;
    return [{ messages: [...prompt, { role: "assistant", content: clean(e.references[0]).trim() }] }];
  });
}

/**
 * The mix: `perTask` examples from each task, a seeded random subset of each
 * source (summarization takes half from each of its two sources; a source
 * with fewer examples gives them all), interleaved by a seeded shuffle.
 */
export function mixExamples(dataDir: string, opts: { perTask?: number; seed?: number } = {}): TrainExample[] {
  const perTask = opts.perTask ?? 500;
  const rng = new TrainRandom(opts.seed ?? 0);
  const byTask = new Map<string, MixSource[]>();
  for (const s of MIX_SOURCES) byTask.set(s.task, [...(byTask.get(s.task) ?? []), s]);
  const all: TrainExample[] = [];
  for (const sources of byTask.values()) {
    const share = Math.ceil(perTask / sources.length);
    for (const s of sources) {
      const examples = s.read(dataDir);
      all.push(...rng.permutation(examples.length).slice(0, share).map((i) => examples[i]));
    }
  }
  return rng.permutation(all.length).map((i) => all[i]);
}
