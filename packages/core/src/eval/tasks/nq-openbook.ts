// Natural Questions, open book (short answers): the prompt holds the passage
// and the question ("Context: ... Question: ... Answer:"); the answer and its
// aliases are the references. All evaluation. Chat prompt; SQuAD EM/F1.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, noTrainSplit, readJsonl } from "./files.js";

const FOLDER = "nq_openbook_short";

export const nqOpenbook: TaskDefinition = {
  name: "nq_openbook_short",
  description: "QA with a passage (Natural Questions), SQuAD EM/F1; eval only",
  folder: FOLDER,
  kind: "generate",
  metrics: ["squad"],
  maxTokens: 32,
  stop: ["\n"],
  evalExamples(dataDir): EvalExample[] {
    return readJsonl<{ context: string; answer: string; aliases?: string[] }>(
      dataFile(dataDir, FOLDER, "natural_questions_openbook_short.jsonl"),
    ).map((r, i) => ({
      kind: "generate",
      id: String(i),
      prompt: [{ role: "user", content: `${r.context.replace(/\n?Answer:\s*$/, "").trim()}\n\nAnswer with a few words only.` }],
      references: [r.answer, ...(r.aliases ?? []).filter((a) => a !== r.answer)],
    }));
  },
  trainExamples: () => noTrainSplit("nq_openbook_short"),
};
