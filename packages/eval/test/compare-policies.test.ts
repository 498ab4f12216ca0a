// Which baselines a comparison runs, and how many layers they skip.
import { describe, expect, it } from "vitest";
import { InvalidOptionError, parsePolicy, policyMask } from "@first/core";
import { baselinePolicies, BASELINES, firstPolicyName, matchedSkipCount, parseBaselines, parseThresholds } from "../src/compare/policies.js";

describe("compare policies", () => {
  it("k = round(layers - FiRST's mean executed layers), within the skippable layers", () => {
    expect(matchedSkipCount(24.4, 30, 27)).toBe(6);
    expect(matchedSkipCount(23.5, 30, 27)).toBe(7);
    expect(matchedSkipCount(30, 30, 27)).toBe(0);
    expect(matchedSkipCount(1, 30, 27)).toBe(27);
  });

  it("baselines skip k layers; exit:L keeps layers 0..L so that L = executed - 1", () => {
    expect(baselinePolicies(BASELINES, 6, 30)).toEqual(["uls:6", "bi:6", "random:6", "last:6", "exit:23"]);
    expect(baselinePolicies(["exit"], 0, 30)).toEqual(["exit:29"]);
    // Each runs exactly 30 - k layers.
    for (const spec of baselinePolicies(["uls", "random", "last", "exit"], 6, 30)) {
      const executed = policyMask(parsePolicy(spec), { nLayers: 30 }).filter(Boolean).length;
      expect(executed, spec).toBe(24);
    }
  });

  it("names FiRST rows first, or first@t when several thresholds are compared", () => {
    expect(firstPolicyName(0.5, false)).toBe("first");
    expect(firstPolicyName(0.5, true)).toBe("first@0.5");
  });

  it("parses baseline and threshold lists", () => {
    expect(parseBaselines(undefined)).toEqual([...BASELINES]);
    expect(parseBaselines("all")).toEqual([...BASELINES]);
    expect(parseBaselines("uls, exit,uls")).toEqual(["uls", "exit"]);
    expect(() => parseBaselines("uls,shortgpt")).toThrow(InvalidOptionError);
    expect(parseThresholds("0.3,0.5,0.7")).toEqual([0.3, 0.5, 0.7]);
    expect(parseThresholds(undefined)).toEqual([]);
    expect(() => parseThresholds("0.5,1.5")).toThrow(InvalidOptionError);
    expect(() => parseThresholds("x")).toThrow(InvalidOptionError);
  });
});
