// The benchmark helpers' arithmetic and text handling, against values worked
// out by hand.
import { describe, expect, it } from "vitest";
import { detokenizeWikitext } from "../src/prompt-text.js";
import { round, roundSummary, summarizeValues } from "../src/stats.js";

describe("summarizeValues", () => {
  it("gives mean, sample standard deviation, median, min and max", () => {
    // mean 4; deviations -1, -3, -2, 6: squares 1 + 9 + 4 + 36 = 50; 50 / 3 = 16.667; sqrt = 4.0825
    const s = summarizeValues([3, 1, 2, 10]);
    expect(s.mean).toBe(4);
    expect(s.stdev).toBeCloseTo(Math.sqrt(50 / 3), 12);
    expect(s.median).toBe(2.5);
    expect([s.min, s.max]).toEqual([1, 10]);
    expect(s.values).toEqual([3, 1, 2, 10]);
    expect(summarizeValues([7, 1, 4]).median).toBe(4);
    expect(summarizeValues([5]).stdev).toBe(0);
    expect(() => summarizeValues([])).toThrow(/no values/);
  });

  it("rounds for the results files", () => {
    expect(round(1.23456)).toBe(1.235);
    expect(round(2.5, 0)).toBe(3);
    expect(roundSummary(summarizeValues([1 / 3, 2 / 3])).mean).toBe(0.5);
    expect(roundSummary(summarizeValues([1 / 3, 2 / 3])).values).toEqual([0.333, 0.667]);
  });
});

describe("detokenizeWikitext", () => {
  it("turns WikiText's spacing back into prose and drops headings", () => {
    const raw = " = Heading = \n The 1 @,@ 000 @-@ year old tree ( a yew ) is n't small , it is 3 @.@ 5 m tall . \n";
    expect(detokenizeWikitext(raw)).toBe("The 1,000-year old tree (a yew) isn't small, it is 3.5 m tall.");
  });
});
