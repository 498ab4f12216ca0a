// Tatoeba (LASER test pairs): short German sentences -> English. All 1000
// pairs are evaluation data (no train split). German -> English because the
// model writes English far better than German. Chat prompt; BLEU and chrF.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, noTrainSplit, readLines } from "./files.js";

const FOLDER = "tatoeba_laser";

export const tatoeba: TaskDefinition = {
  name: "tatoeba_laser",
  description: "translation German -> English (short sentences), BLEU and chrF; eval only",
  folder: FOLDER,
  kind: "generate",
  metrics: ["bleu", "chrf"],
  maxTokens: 64,
  stop: ["\n"],
  evalExamples(dataDir): EvalExample[] {
    const de = readLines(dataFile(dataDir, FOLDER, "tatoeba.deu-eng.deu"));
    const en = readLines(dataFile(dataDir, FOLDER, "tatoeba.deu-eng.eng"));
    return de.map((line, i) => ({
      kind: "generate",
      id: String(i),
      prompt: [{ role: "user", content: `Translate this German sentence into English. Reply with the translation only.\n\n${line.trim()}` }],
      references: [en[i].trim()],
    }));
  },
  trainExamples: () => noTrainSplit("tatoeba_laser"),
};
