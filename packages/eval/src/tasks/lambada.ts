// LAMBADA (OpenAI variant, 5153 passages), all evaluation. Raw text: right
// when greedy decoding after the context yields exactly " " + the last word.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, noTrainSplit, readJsonl } from "./files.js";

const FOLDER = "lambada_openai";

export const lambada: TaskDefinition = {
  name: "lambada_openai",
  description: "last-word prediction (LAMBADA), accuracy and perplexity; eval only",
  folder: FOLDER,
  kind: "lastword",
  metrics: ["lambada"],
  maxTokens: 0,
  stop: [],
  evalExamples(dataDir): EvalExample[] {
    return readJsonl<{ context: string; continuation: string }>(dataFile(dataDir, FOLDER, "lambada_openai.jsonl")).map((r, i) => ({
      kind: "lastword",
      id: String(i),
      context: r.context.trimEnd(),
      target: ` ${r.continuation.trim()}`,
    }));
  },
  trainExamples: () => noTrainSplit("lambada_openai"),
};
