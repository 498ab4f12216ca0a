// Natural Questions, open book (short answers): the prompt holds the passage
// and the question ("Context: ... Question: ... Answer:"); the answer and its
// aliases are the references. All evaluation. Chat prompt; SQuAD EM/F1.
// A few passages are very long (up to ~30k characters): passages are cut to
// 8000 characters (~2k tokens) so that prefill stays affordable on a CPU.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, noTrainSplit, readJsonl, truncateText } from "./files.js";

const FOLDER = "nq_openbook_short";
export const PASSAGE_CHARS = 8000;

/** "Context: <passage>\n\nQuestion: <q>" with the passage cut to PASSAGE_CHARS; the trailing "Answer:" dropped. */
function promptText(context: string): string {
  const text = context.replace(/\n?Answer:\s*$/, "").trim();
  const q = text.lastIndexOf("\n\nQuestion:");
  return q < 0 ? truncateText(text, PASSAGE_CHARS) : truncateText(text.slice(0, q), PASSAGE_CHARS) + text.slice(q);
}

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
      prompt: [{ role: "user", content: `${promptText(r.context)}\n\nAnswer with a few words only.` }],
      references: [r.answer, ...(r.aliases ?? []).filter((a) => a !== r.answer)],
    }));
  },
  trainExamples: () => noTrainSplit("nq_openbook_short"),
};
