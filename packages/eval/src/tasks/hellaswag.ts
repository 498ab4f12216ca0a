// HellaSwag validation (10042 items), all evaluation. The bzip2 file has six
// lines per item: "activity label: context", the gold index (0-3), four
// endings. Raw text; each ending is scored by log P(" " + ending | context).
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, noTrainSplit, readBzip2 } from "./files.js";

const FOLDER = "hellaswag";

export function parseHellaswag(text: string): EvalExample[] {
  const lines = text.split("\n");
  const out: EvalExample[] = [];
  for (let i = 0; i + 6 <= lines.length; i += 6) {
    const context = lines[i].trim();
    const gold = Number(lines[i + 1]);
    const endings = lines.slice(i + 2, i + 6).map((e) => e.trim());
    out.push({ kind: "choice", id: String(i / 6), choices: endings.map((e) => ({ context, continuation: ` ${e}` })), gold });
  }
  return out;
}

export const hellaswag: TaskDefinition = {
  name: "hellaswag",
  description: "multiple-choice sentence completion (HellaSwag validation), acc/acc_norm; eval only",
  folder: FOLDER,
  kind: "choice",
  metrics: ["loglik"],
  maxTokens: 0,
  stop: [],
  evalExamples: (dir) => parseHellaswag(readBzip2(dataFile(dir, FOLDER, "hellaswag_val_full.txt.bz2"))),
  trainExamples: () => noTrainSplit("hellaswag"),
};
