// SciTLDR-A: abstract (list of sentences) -> one-sentence TLDR. Eval =
// test.jsonl (several reference TLDRs each), train = train.jsonl. Chat
// prompt; ROUGE (best over references); stops at the first newline.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, readJsonl } from "./files.js";

const FOLDER = "scitldr";

interface Row {
  source: string[];
  target: string[];
  paper_id: string;
}

function examples(dataDir: string, file: string): EvalExample[] {
  return readJsonl<Row>(dataFile(dataDir, FOLDER, file)).map((r) => ({
    kind: "generate",
    id: r.paper_id,
    prompt: [
      {
        role: "user",
        content: `Write a one-sentence summary (TL;DR) of this scientific abstract.\n\n${r.source.join(" ")}`,
      },
    ],
    references: r.target,
  }));
}

export const scitldr: TaskDefinition = {
  name: "scitldr",
  description: "scientific abstract -> one-sentence TLDR, ROUGE; eval test.jsonl",
  folder: FOLDER,
  kind: "generate",
  metrics: ["rouge"],
  maxTokens: 64,
  stop: ["\n"],
  evalExamples: (dir) => examples(dir, "test.jsonl"),
  trainExamples: (dir) => examples(dir, "train.jsonl"),
};
