// The registry of evaluation tasks, one per dataset folder.
import { FirstError } from "@first/core";
import type { TaskDefinition } from "../types.js";
import { adversarialQa } from "./adversarial-qa.js";
import { cnnDailymail } from "./cnn-dailymail.js";
import { gsm8k } from "./gsm8k.js";
import { hellaswag } from "./hellaswag.js";
import { lambada } from "./lambada.js";
import { llmFoundryMc, llmFoundryMcSet } from "./llm-foundry-mc.js";
import { nqOpenbook } from "./nq-openbook.js";
import { scitldr } from "./scitldr.js";
import { selfInstruct } from "./self-instruct.js";
import { t0Mix } from "./t0-mix.js";
import { tatoeba } from "./tatoeba.js";
import { triviaqa } from "./triviaqa.js";
import { wikitext2 } from "./wikitext2.js";
import { wmtEnde } from "./wmt-ende.js";

// The training mix reads these tasks' train splits.
export { adversarialQa, cnnDailymail, gsm8k, scitldr, t0Mix, wmtEnde };

export const TASKS: readonly TaskDefinition[] = [
  cnnDailymail, scitldr, wmtEnde, tatoeba, gsm8k, adversarialQa, nqOpenbook, triviaqa, llmFoundryMc, hellaswag, lambada,
  wikitext2, selfInstruct, t0Mix,
];

/** A task by name; "llm_foundry_mc:<set>" picks one multiple-choice set. */
export function getTask(name: string): TaskDefinition {
  const task = TASKS.find((t) => t.name === name);
  if (task) return task;
  if (name.startsWith("llm_foundry_mc:")) return llmFoundryMcSet(name.slice("llm_foundry_mc:".length));
  throw new FirstError("INVALID_OPTION", `unknown task "${name}"; tasks: ${TASKS.map((t) => t.name).join(", ")}`);
}

export { MC_SETS } from "./llm-foundry-mc.js";
