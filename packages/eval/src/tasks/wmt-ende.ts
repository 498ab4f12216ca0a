// WMT English -> German (OpenNMT toy-ende): eval = newstest2014 (src/tgt-
// test), train = src/tgt-train (10k). The text is Moses-tokenized and
// HTML-escaped; both sides are detokenized before prompting and scoring (BLEU
// and chrF expect plain text). Chat prompt; stops at the first newline.
import type { EvalExample, TaskDefinition } from "../types.js";
import { dataFile, readLines } from "./files.js";

const FOLDER = "wmt_ende_onmt_toy";

const ENTITIES: Record<string, string> = {
  "&apos;": "'", "&quot;": '"', "&amp;": "&", "&lt;": "<", "&gt;": ">", "&#91;": "[", "&#93;": "]", "&#124;": "|",
};

/** Undoes Moses tokenization well enough for prompting and scoring: entities, spaces around punctuation. */
export function detokenizeMoses(line: string): string {
  let s = line.replace(/&(apos|quot|amp|lt|gt|#91|#93|#124);/g, (m) => ENTITIES[m]);
  s = s.replace(/ @-@ /g, "-").replace(/ @([,.])@ /g, "$1");
  s = s.replace(/\s+([.,!?;:%)\]}])/g, "$1");
  s = s.replace(/([([{„¿¡$€£]) +/g, "$1");
  // Moses splits "he's" into "he 's" and "don't" into "don 't".
  s = s.replace(/(\w) '(s|re|ve|ll|d|m|t)\b/g, "$1'$2");
  // Straight double quotes: alternate opening (space before) and closing (space after).
  let open = true;
  s = s.replace(/ ?" ?/g, (m) => {
    const r = open ? (m.startsWith(" ") ? ' "' : '"') : m.endsWith(" ") ? '" ' : '"';
    open = !open;
    return r;
  });
  return s.replace(/\s+/g, " ").trim();
}

function examples(dataDir: string, src: string, tgt: string): EvalExample[] {
  const en = readLines(dataFile(dataDir, FOLDER, src));
  const de = readLines(dataFile(dataDir, FOLDER, tgt));
  const out: EvalExample[] = [];
  en.forEach((line, i) => {
    const source = detokenizeMoses(line);
    const target = detokenizeMoses(de[i] ?? "");
    if (source.length === 0 || target.length === 0) return;
    out.push({
      kind: "generate",
      id: String(i),
      prompt: [{ role: "user", content: `Translate this English sentence into German. Reply with the translation only.\n\n${source}` }],
      references: [target],
    });
  });
  return out;
}

export const wmtEnde: TaskDefinition = {
  name: "wmt_ende_onmt_toy",
  description: "translation English -> German (newstest2014), BLEU and chrF",
  folder: FOLDER,
  kind: "generate",
  metrics: ["bleu", "chrf"],
  maxTokens: 128,
  stop: ["\n"],
  evalExamples: (dir) => examples(dir, "src-test.txt", "tgt-test.txt"),
  trainExamples: (dir) => examples(dir, "src-train.txt", "tgt-train.txt"),
};
