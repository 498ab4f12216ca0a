// llm-foundry's multiple-choice sets (ARC-E/C, PIQA, BoolQ, COPA, OBQA, CSQA,
// SIQA, WinoGrande), all evaluation. Raw text, no chat template: each choice
// is scored by log P(" " + choice | query) (ARC, PIQA and BoolQ join with
// "\nAnswer: " as llm-foundry's task configs do; WinoGrande varies the
// context and scores the shared continuation). The sets are interleaved
// round-robin so that --limit samples all of them; ids are "<set>/<row>".
// A single set is the task "llm_foundry_mc:<set>".
import { FirstError } from "@first/core";
import type { ChoiceExample, EvalExample, TaskDefinition } from "../types.js";
import { dataFile, noTrainSplit, readJsonl } from "./files.js";

const FOLDER = "llm_foundry_mc";
export const MC_SETS = [
  "arc_easy", "arc_challenge", "piqa", "boolq", "copa", "openbook_qa", "commonsense_qa", "siqa", "winogrande",
] as const;
const ANSWER_DELIMITER = new Set(["arc_easy", "arc_challenge", "piqa", "boolq"]);

interface Row {
  query?: string;
  choices?: string[];
  context_options?: string[];
  continuation?: string;
  gold: number;
}

function join(context: string, delimiter: string): string {
  return /\s$/.test(context) ? context + delimiter.trimStart() : context + delimiter;
}

function setExamples(dataDir: string, set: string): ChoiceExample[] {
  const delimiter = ANSWER_DELIMITER.has(set) ? "\nAnswer: " : " ";
  return readJsonl<Row>(dataFile(dataDir, FOLDER, `${set}.jsonl`)).map((r, i) => {
    const choices =
      r.context_options !== undefined
        ? r.context_options.map((c) => ({ context: c, continuation: ` ${r.continuation ?? ""}` }))
        : (r.choices ?? []).map((c) => {
            // Trailing whitespace belongs to the continuation (" yes" is one token, as the model sees it).
            const full = join(r.query ?? "", delimiter);
            const context = full.trimEnd();
            return { context, continuation: full.slice(context.length) + c };
          });
    return { kind: "choice", id: `${set}/${i}`, choices, gold: r.gold };
  });
}

function interleave(lists: EvalExample[][]): EvalExample[] {
  const out: EvalExample[] = [];
  for (let i = 0; lists.some((l) => i < l.length); i++) for (const l of lists) if (i < l.length) out.push(l[i]);
  return out;
}

function makeTask(name: string, sets: readonly string[]): TaskDefinition {
  return {
    name,
    description:
      sets.length === 1 ? `multiple choice (${sets[0]}), log-likelihood accuracy` : "multiple choice (ARC, PIQA, BoolQ, COPA, OBQA, CSQA, SIQA, WinoGrande), acc/acc_norm",
    folder: FOLDER,
    kind: "choice",
    metrics: ["loglik"],
    maxTokens: 0,
    stop: [],
    evalExamples: (dir) => interleave(sets.map((s) => setExamples(dir, s))),
    trainExamples: () => noTrainSplit(name),
  };
}

export const llmFoundryMc = makeTask("llm_foundry_mc", MC_SETS);

/** "llm_foundry_mc:<set>" for one of MC_SETS. */
export function llmFoundryMcSet(set: string): TaskDefinition {
  if (!(MC_SETS as readonly string[]).includes(set))
    throw new FirstError("INVALID_OPTION", `unknown llm_foundry_mc set "${set}"; sets: ${MC_SETS.join(", ")}`);
  return makeTask(`llm_foundry_mc:${set}`, [set]);
}
