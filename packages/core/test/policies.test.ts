// Layer-skipping baselines: parsing and the masks they give, hand-computed.
import { describe, expect, it } from "vitest";
import { InvalidOptionError } from "../src/errors.js";
import { parsePolicy, policyMask, policyName } from "../src/policies/policy.js";

const skipped = (mask: boolean[]) => mask.flatMap((e, l) => (e ? [] : [l]));
const n = 30;

describe("layer policies", () => {
  it("full runs every layer", () => {
    expect(skipped(policyMask(parsePolicy("full"), { nLayers: n }))).toEqual([]);
  });

  it("uls:k spaces k skips evenly over the routable layers 2..28", () => {
    expect(skipped(policyMask(parsePolicy("uls:9"), { nLayers: n }))).toEqual([3, 6, 9, 12, 15, 18, 21, 24, 27]);
    expect(skipped(policyMask(parsePolicy("uls:3"), { nLayers: n }))).toEqual([6, 15, 24]);
    expect(skipped(policyMask(parsePolicy("uls:27"), { nLayers: n }))).toEqual([...Array(27).keys()].map((i) => i + 2));
  });

  it("last:k skips the last routable layers, keeping the exempt last layer", () => {
    expect(skipped(policyMask(parsePolicy("last:3"), { nLayers: n }))).toEqual([26, 27, 28]);
  });

  it("exit:L skips everything after L, exemptions included", () => {
    expect(skipped(policyMask(parsePolicy("exit:26"), { nLayers: n }))).toEqual([27, 28, 29]);
  });

  it("skip: lists layers exactly, exempt ones too", () => {
    expect(skipped(policyMask(parsePolicy("skip:0,7,29"), { nLayers: n }))).toEqual([0, 7, 29]);
  });

  it("random:k:seed is reproducible, avoids exempt layers, and depends on the seed", () => {
    const a = skipped(policyMask(parsePolicy("random:6:1"), { nLayers: n }));
    const b = skipped(policyMask(parsePolicy("random:6:1"), { nLayers: n }));
    const c = skipped(policyMask(parsePolicy("random:6:2"), { nLayers: n }));
    expect(a).toEqual(b);
    expect(a).toHaveLength(6);
    expect(a.some((l) => [0, 1, 29].includes(l))).toBe(false);
    expect(a).not.toEqual(c);
  });

  it("bi:k skips the lowest Block Influence among routable layers", () => {
    const bi = Array.from({ length: 6 }, (_, l) => [0.01, 0.02, 0.5, 0.1, 0.3, 0.05][l]);
    // Layers 0, 1 and 5 are exempt, so the two lowest routable scores are layers 3 (0.1) and 4 (0.3).
    expect(skipped(policyMask(parsePolicy("bi:2"), { nLayers: 6, blockInfluence: bi }))).toEqual([3, 4]);
    expect(() => policyMask(parsePolicy("bi:2"), { nLayers: 6 })).toThrow(/Block Influence/);
  });

  it("custom exempt layers apply to uls, last, random and bi", () => {
    expect(skipped(policyMask(parsePolicy("last:2"), { nLayers: 6, exempt: [5] }))).toEqual([3, 4]);
  });

  it("rejects bad specs with InvalidOptionError", () => {
    for (const bad of ["", "uls", "uls:x", "uls:-1", "skip:", "skip:1,1", "exit", "random:1:2:3", "nope:3", "full:1"]) {
      expect(() => parsePolicy(bad), bad).toThrow(InvalidOptionError);
    }
    expect(() => policyMask(parsePolicy("uls:28"), { nLayers: n })).toThrow(/only 27 of 30/);
    expect(() => policyMask(parsePolicy("skip:30"), { nLayers: n })).toThrow(/does not exist/);
    expect(() => policyMask(parsePolicy("exit:30"), { nLayers: n })).toThrow(/does not exist/);
  });

  it("names round-trip", () => {
    for (const s of ["full", "skip:3,7,12", "uls:9", "bi:4", "random:5:7", "last:2", "exit:20"]) expect(policyName(parsePolicy(s))).toBe(s);
  });
});
