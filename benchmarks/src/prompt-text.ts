// Real English text for benchmark prompts: the WikiText-2 test split from the
// shared data folder when it can be found, else a fixed paragraph repeated.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export interface PromptText {
  text: string;
  /** Where the text came from, for the results. */
  source: string;
}

const WIKITEXT = join("wikitext2", "test.txt");

// Used where the data folder is absent: plain prose, repeated to any length.
const FALLBACK_PARAGRAPH =
  "The river rises in the hills to the north of the town and runs south through a wide valley of farms and " +
  "small villages before it reaches the sea. In the nineteenth century the valley was known for its mills, " +
  "which used the water to grind grain and later to spin cotton. Most of the mills closed after the railway " +
  "arrived, because goods could then be brought more cheaply from the large factories in the cities. Today " +
  "several of the old buildings have been turned into houses, shops and a small museum that tells the story " +
  "of the people who worked there. ";

/** Data folders to look in: an explicit one, then `shared/data` next to or above the project. */
function dataDirs(explicit: string | undefined): string[] {
  const dirs: string[] = [];
  if (explicit) dirs.push(resolve(explicit));
  if (process.env.FIRST_DATA_DIR) dirs.push(resolve(process.env.FIRST_DATA_DIR));
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    dirs.push(join(dir, "shared", "data"));
    if (dirname(dir) === dir) break;
  }
  return dirs;
}

/** WikiText's tokenized spacing (" @-@ ", " , ") turned back into ordinary prose. */
function detokenizeWikitext(raw: string): string {
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

/** About `chars` characters of text (cut at a space), from the start of the source. */
export function promptText(chars: number, dataDir?: string): PromptText {
  const cut = (text: string) => text.slice(0, text.lastIndexOf(" ", chars));
  for (const dir of dataDirs(dataDir)) {
    const file = join(dir, WIKITEXT);
    if (!existsSync(file)) continue;
    // The first 4 * chars of the file are plenty to make `chars` of prose from.
    const text = detokenizeWikitext(readFileSync(file, "utf8").slice(0, 4 * chars));
    if (text.length >= chars) return { text: cut(text), source: file };
  }
  const text = FALLBACK_PARAGRAPH.repeat(Math.ceil(chars / FALLBACK_PARAGRAPH.length) + 1);
  return { text: cut(text), source: "built-in paragraph, repeated" };
}
