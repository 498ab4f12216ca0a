// GSM8K: grade-school math. Eval = test.jsonl, train = train.jsonl. Chat
// prompt asking for reasoning and the final number last; scored by the last
// number in the output against the "#### N" answer.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, readJsonl } from "./files.js";

const FOLDER = "gsm8k";

function examples(dataDir: string, file: string): EvalExample[] {
  return readJsonl<{ question: string; answer: string }>(dataFile(dataDir, FOLDER, file)).map((r, i) => ({
    kind: "generate",
    id: String(i),
    prompt: [
      {
        role: "user",
        content: `Solve this math problem step by step. End with the final answer as a number on its own line.\n\n${r.question}`,
      },
    ],
    references: [r.answer],
  }));
}

export const gsm8k: TaskDefinition = {
  name: "gsm8k",
  description: "grade-school math word problems, numeric exact match; eval test.jsonl",
  folder: FOLDER,
  kind: "generate",
  metrics: ["numeric"],
  maxTokens: 256,
  stop: [],
  evalExamples: (dir) => examples(dir, "test.jsonl"),
  trainExamples: (dir) => examples(dir, "train.jsonl"),
};
