// The T0 instruction mix (58 prompt templates over 29 datasets): train.jsonl
// holds rows 0-149 of each template, eval.jsonl the rest. The prompt goes in a
// chat message as it is; the completion is the reference. SQuAD EM and F1
// (labels and short answers are the bulk; F1 credits partial overlap).
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, readJsonl } from "./files.js";

const FOLDER = "t0_mix";

interface Row {
  template: string;
  prompt: string;
  completion: string;
}

/** The rows of a split, with the template kept as the id's prefix. */
export function t0MixRows(dataDir: string, split: "train" | "eval"): Row[] {
  return readJsonl<Row>(dataFile(dataDir, FOLDER, `${split}.jsonl`));
}

// Ids are the row's place in its template's file: train rows 0-149, eval rows from 150.
const TRAIN_ROWS = 150;

function examples(dataDir: string, split: "train" | "eval"): EvalExample[] {
  const seen = new Map<string, number>();
  const first = split === "train" ? 0 : TRAIN_ROWS;
  return t0MixRows(dataDir, split).map((r) => {
    const i = seen.get(r.template) ?? 0;
    seen.set(r.template, i + 1);
    return {
      kind: "generate" as const,
      id: `${r.template}/${first + i}`,
      prompt: [{ role: "user", content: r.prompt.trim() }],
      references: [r.completion.trim()],
    };
  });
}

export const t0Mix: TaskDefinition = {
  name: "t0_mix",
  description: "instruction mix (58 T0 templates: classification, QA, paraphrase, data-to-text, summaries), SQuAD EM/F1",
  folder: FOLDER,
  kind: "generate",
  metrics: ["squad"],
  maxTokens: 64,
  stop: [],
  evalExamples: (dir) => examples(dir, "eval"),
  trainExamples: (dir) => examples(dir, "train"),
};
