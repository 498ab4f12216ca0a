// TriviaQA (llm-foundry's 3000-question subsample): closed-book questions;
// the answer and its aliases are the references. All evaluation. Chat
// prompt; SQuAD EM/F1.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, noTrainSplit, readJsonl } from "./files.js";

const FOLDER = "triviaqa_sm_sub";

export const triviaqa: TaskDefinition = {
  name: "triviaqa_sm_sub",
  description: "closed-book trivia QA, SQuAD EM/F1; eval only",
  folder: FOLDER,
  kind: "generate",
  metrics: ["squad"],
  maxTokens: 24,
  stop: ["\n"],
  evalExamples(dataDir): EvalExample[] {
    return readJsonl<{ context: string; answer: string; aliases?: string[] }>(dataFile(dataDir, FOLDER, "triviaqa_sm_sub.jsonl")).map(
      (r, i) => ({
        kind: "generate",
        id: String(i),
        prompt: [{ role: "user", content: `${r.context.replace(/\n?Answer:\s*$/, "").trim()}\n\nAnswer with a few words only.` }],
        references: [r.answer, ...(r.aliases ?? []).filter((a) => a !== r.answer)],
      }),
    );
  },
  trainExamples: () => noTrainSplit("triviaqa_sm_sub"),
};
