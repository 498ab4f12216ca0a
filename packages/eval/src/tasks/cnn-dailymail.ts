// CNN/DailyMail (validation[:1000]): article -> highlights. Train = rows
// 0-499, eval = rows 500-999 (one file, split in halves as the data README
// says). Articles are cut to 4000 characters (~1k tokens) so prompts stay
// short on a CPU. Chat prompt; ROUGE against the highlights joined by spaces.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, parseCsv, truncateText } from "./files.js";
import { readFileSync } from "node:fs";

const FOLDER = "cnn_dailymail_val1000";
export const ARTICLE_CHARS = 4000;

function examples(dataDir: string, from: number, to: number): EvalExample[] {
  const rows = parseCsv(readFileSync(dataFile(dataDir, FOLDER, "cnn_dailymail_validation_subset.csv"), "utf8"));
  return rows.slice(from, to).map((r, i) => ({
    kind: "generate",
    id: r.id || String(from + i),
    prompt: [
      {
        role: "user",
        content: `Summarize the following news article in three short sentences.\n\n${truncateText(r.article, ARTICLE_CHARS)}`,
      },
    ],
    references: [r.highlights.split("\n").map((s) => s.trim()).filter((s) => s.length > 0).join(" ")],
  }));
}

export const cnnDailymail: TaskDefinition = {
  name: "cnn_dailymail_val1000",
  description: "news summarization (article -> highlights), ROUGE; eval rows 500-999",
  folder: FOLDER,
  kind: "generate",
  metrics: ["rouge"],
  maxTokens: 128,
  stop: [],
  evalExamples: (dir) => examples(dir, 500, 1000),
  trainExamples: (dir) => examples(dir, 0, 500),
};
