// Self-Instruct's 252 user-oriented instructions (one instance each), for
// evaluation only: its authors ask that it never be used for training. Chat
// prompt (instruction, then the input when there is one); ROUGE against the
// human-written output (ROUGE-L as the Self-Instruct paper reports).
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, noTrainSplit, readJsonl } from "./files.js";

const FOLDER = "self_instruct_eval";

interface Row {
  id: string;
  instruction: string;
  instances: { input: string; output: string }[];
}

export const selfInstruct: TaskDefinition = {
  name: "self_instruct_eval",
  description: "instruction following (252 user-oriented tasks), ROUGE; eval only",
  folder: FOLDER,
  kind: "generate",
  metrics: ["rouge"],
  maxTokens: 256,
  stop: [],
  evalExamples(dataDir): EvalExample[] {
    return readJsonl<Row>(dataFile(dataDir, FOLDER, "user_oriented_instructions.jsonl")).flatMap((r) =>
      r.instances.map((inst, j) => ({
        kind: "generate" as const,
        id: r.instances.length > 1 ? `${r.id}/${j}` : r.id,
        prompt: [{ role: "user", content: inst.input.trim() ? `${r.instruction}\n\n${inst.input}` : r.instruction }],
        references: [inst.output],
      })),
    );
  },
  trainExamples: () => noTrainSplit("self_instruct_eval", "its authors ask that it be used for evaluation only"),
};
