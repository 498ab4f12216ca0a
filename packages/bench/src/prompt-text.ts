// Real English text for benchmark prompts: WikiText-2's test split from the
// datasets folder when there is one, else a fixed paragraph repeated.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { findDataDir } from "@first/core";

export interface PromptText {
  text: string;
  /** Where the text came from, for the results. */
  source: string;
}

const FALLBACK_PARAGRAPH =
  "The river rises in the hills to the north of the town and runs south through a wide valley of farms and " +
  "small villages before it reaches the sea. In the nineteenth century the valley was known for its mills, " +
  "which used the water to grind grain and later to spin cotton. Most of the mills closed after the railway " +
  "arrived, because goods could then be brought more cheaply from the large factories in the cities. Today " +
  "several of the old buildings have been turned into houses, shops and a small museum that tells the story " +
  "of the people who worked there. ";

/** WikiText's tokenized spacing (" @-@ ", " , ") turned back into ordinary prose. */
export function detokenizeWikitext(raw: string): string {
  return raw
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("="))
    .join("\n")
    .replace(/ @([-.,])@ /g, "$1")
    .replace(/ ([.,;:!?)'])/g, "$1")
    .replace(/\( /g, "(")
    .replace(/ n't/g, "n't");
}

/** At least `minChars` characters of text. */
export function promptText(minChars: number, dataDir?: string): PromptText {
  let file: string | undefined;
  try {
    file = join(findDataDir(dataDir), "wikitext2", "test.txt");
  } catch {
    // no datasets folder: the paragraph below
  }
  if (file !== undefined && existsSync(file)) {
    const text = detokenizeWikitext(readFileSync(file, "utf8"));
    if (text.length >= minChars) return { text, source: file };
  }
  return { text: FALLBACK_PARAGRAPH.repeat(Math.ceil(minChars / FALLBACK_PARAGRAPH.length)), source: "built-in paragraph, repeated" };
}

/** WikiText-2 test paragraphs as prose (the fixed paragraph, repeated, where there is none). */
export function detokenizeWikitextParagraphs(dataDir?: string): { paragraphs: string[]; source: string } {
  let file: string | undefined;
  try {
    file = join(findDataDir(dataDir), "wikitext2", "test.txt");
  } catch {
    // no datasets folder
  }
  if (file !== undefined && existsSync(file)) {
    const paragraphs = readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.trim().length > 0 && !l.trim().startsWith("="))
      .map((l) => detokenizeWikitext(l));
    return { paragraphs, source: file };
  }
  return { paragraphs: Array.from({ length: 64 }, (_, i) => FALLBACK_PARAGRAPH.repeat(2 + (i % 3))), source: "built-in paragraph, repeated" };
}
