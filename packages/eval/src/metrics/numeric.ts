// GSM8K numeric exact match: the last number in the output against the
// number after "#### " in the reference answer, commas removed, compared as
// numbers (so "18.00" matches "18").
import type { Scores } from "../types.js";

const NUMBER = /-?\d[\d,]*(?:\.\d+)?|-?\.\d+/g;

/** The last number in a text (commas removed), or null. */
export function lastNumber(text: string): string | null {
  const all = text.match(NUMBER);
  if (!all) return null;
  return all[all.length - 1].replaceAll(",", "");
}

/** The final answer of a GSM8K solution ("... #### 72"), or the last number when there is no "####". */
export function gsm8kAnswer(solution: string): string | null {
  const i = solution.lastIndexOf("####");
  return lastNumber(i >= 0 ? solution.slice(i + 4) : solution);
}

export function numericScores(output: string, references: string[]): Scores {
  const got = lastNumber(output);
  const ok =
    got !== null &&
    references.some((ref) => {
      const want = gsm8kAnswer(ref);
      return want !== null && Number(want) === Number(got);
    });
  return { exact_match: ok ? 1 : 0 };
}
