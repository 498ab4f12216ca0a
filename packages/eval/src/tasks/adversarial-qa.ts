// AdversarialQA in T0 format: question + context -> answer span. Eval = the
// droberta file, train = the dbert and dbidaf files (as the data README
// says). The T0 prompt goes in a chat message with an instruction to answer
// briefly; "<|endoftext|>" is stripped from the answers. SQuAD EM and F1.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, readJsonl } from "./files.js";

const FOLDER = "adversarial_qa_t0";
const FILE = (name: string) => `adversarial_qa_${name}_question_context_answer.jsonl`;

function examples(dataDir: string, names: string[]): EvalExample[] {
  return names.flatMap((name) =>
    readJsonl<{ prompt: string; completion: string }>(dataFile(dataDir, FOLDER, FILE(name))).map((r, i) => ({
      kind: "generate" as const,
      id: `${name}/${i}`,
      prompt: [{ role: "user", content: `${r.prompt.trim()}\n\nAnswer with a short phrase copied from the context.` }],
      references: [r.completion.replaceAll("<|endoftext|>", "").trim()],
    })),
  );
}

export const adversarialQa: TaskDefinition = {
  name: "adversarial_qa_t0",
  description: "extractive QA (question + context), SQuAD EM/F1; eval droberta",
  folder: FOLDER,
  kind: "generate",
  metrics: ["squad"],
  maxTokens: 32,
  stop: ["\n"],
  evalExamples: (dir) => examples(dir, ["droberta"]),
  trainExamples: (dir) => examples(dir, ["dbert", "dbidaf"]),
};
