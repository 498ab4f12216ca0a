// WikiText-2 (tokenized version): eval = test.txt, train = valid.txt (the
// training file is not in the data folder). Each article (from one " = Title = "
// heading to the next) is one example; the text is kept as it is (with <unk>
// and @-@), as WikiText perplexities are usually reported.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile } from "./files.js";
import { readFileSync } from "node:fs";

const FOLDER = "wikitext2";

export function splitArticles(text: string): string[] {
  const articles: string[] = [];
  let cur: string[] = [];
  for (const line of text.split("\n")) {
    if (/^ = [^=].* = $/.test(line) && cur.some((l) => l.trim().length > 0)) {
      articles.push(cur.join("\n").trim());
      cur = [];
    }
    cur.push(line);
  }
  if (cur.some((l) => l.trim().length > 0)) articles.push(cur.join("\n").trim());
  return articles;
}

function examples(dataDir: string, file: string): EvalExample[] {
  return splitArticles(readFileSync(dataFile(dataDir, FOLDER, file), "utf8")).map((text, i) => ({
    kind: "perplexity",
    id: String(i),
    text,
  }));
}

export const wikitext2: TaskDefinition = {
  name: "wikitext2",
  description: "language-model perplexity on WikiText-2 test articles",
  folder: FOLDER,
  kind: "perplexity",
  metrics: ["perplexity"],
  maxTokens: 0,
  stop: [],
  evalExamples: (dir) => examples(dir, "test.txt"),
  trainExamples: (dir) => examples(dir, "valid.txt"),
};
