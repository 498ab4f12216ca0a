// Every evaluation metric against values computed by hand (the arithmetic is
// written next to each expectation).
import { describe, expect, it } from "vitest";
import { bleuFromStats, bleuStats, corpusBleu, tokenize13a } from "../src/metrics/bleu.js";
import { chrfFromStats, chrfStatsOne, corpusChrf } from "../src/metrics/chrf.js";
import { lambadaFromScores, lastWordScores } from "../src/metrics/lambada.js";
import { choiceScores } from "../src/metrics/loglik.js";
import { gsm8kAnswer, lastNumber, numericScores } from "../src/metrics/numeric.js";
import { perplexityFromScores, perplexityWindows } from "../src/metrics/perplexity.js";
import { lcsLength, rougeScores, rougeTokens } from "../src/metrics/rouge.js";
import { exactMatch, normalizeAnswer, squadScores, tokenF1 } from "../src/metrics/squad.js";
import { aggregate } from "../src/metrics/index.js";
import type { ExampleRecord } from "../src/types.js";

const f1 = (p: number, r: number) => (2 * p * r) / (p + r);

describe("ROUGE", () => {
  it("tokenizes like rouge-score: lowercase, non-alphanumerics split", () => {
    expect(rougeTokens("The cat's hat, 2 x!")).toEqual(["the", "cat", "s", "hat", "2", "x"]);
  });

  it("ROUGE-1/2/L of two short sentences", () => {
    // hyp: the cat sat on the mat (6 tokens); ref: the cat was on the mat (6 tokens)
    // unigrams: hyp {the:2,cat,sat,on,mat}, ref {the:2,cat,was,on,mat}: overlap 2+1+1+1 = 5 -> P = R = 5/6, F = 5/6
    // bigrams: hyp {the cat, cat sat, sat on, on the, the mat}, ref {the cat, cat was, was on, on the, the mat}
    //   overlap 3 of 5 each -> F = 3/5
    // LCS: the cat on the mat = 5 -> F = 5/6
    const s = rougeScores("The cat sat on the mat.", ["the cat was on the mat"]);
    expect(s.rouge1).toBeCloseTo(5 / 6, 12);
    expect(s.rouge2).toBeCloseTo(3 / 5, 12);
    expect(s.rougeL).toBeCloseTo(5 / 6, 12);
  });

  it("different lengths and the best of several references", () => {
    // hyp: a b c d (4); ref: a c (2). ROUGE-1: overlap 2 -> P 2/4, R 2/2 -> F = 2/3.
    // ROUGE-2: hyp bigrams ab bc cd, ref ac: overlap 0 -> 0. LCS(a b c d, a c) = 2 -> F = 2/3.
    const s = rougeScores("a b c d", ["x y", "a c"]);
    expect(s.rouge1).toBeCloseTo(f1(0.5, 1), 12);
    expect(s.rouge2).toBe(0);
    expect(s.rougeL).toBeCloseTo(2 / 3, 12);
    expect(lcsLength(["a", "b", "c", "b"], ["b", "c", "b", "a"])).toBe(3);
    expect(rougeScores("", ["a"])).toEqual({ rouge1: 0, rouge2: 0, rougeL: 0 });
  });
});

describe("BLEU (sacreBLEU defaults)", () => {
  it("13a tokenization splits punctuation but keeps decimals and thousands", () => {
    expect(tokenize13a("Hello, world! It costs 3.50 or 1,000.")).toEqual(["Hello", ",", "world", "!", "It", "costs", "3.50", "or", "1,000", "."]);
    expect(tokenize13a("a &quot;b&quot; 5-6")).toEqual(["a", '"', "b", '"', "5", "-", "6"]);
  });

  it("a two-sentence corpus: summed n-gram precisions and the brevity penalty", () => {
    // 1) hyp "the cat sat on the mat" (6), ref "the cat is on the mat" (6)
    //    1-grams: the x2, cat, on, mat match = 5/6; 2-grams: the cat, on the, the mat = 3/5
    //    3-grams: on the mat = 1/4; 4-grams: 0/3
    // 2) hyp "a dog runs" (3), ref "a dog runs fast" (4)
    //    1-grams 3/3, 2-grams 2/2, 3-grams 1/1, 4-grams 0/0
    // corpus: p1 = 8/9, p2 = 5/7, p3 = 2/5, p4 = 0/3 -> exp smoothing: p4 = 1/(2*3) = 1/6
    // lengths: hyp 9, ref 10 -> BP = exp(1 - 10/9)
    const hyps = ["the cat sat on the mat", "a dog runs"];
    const refs = [["the cat is on the mat"], ["a dog runs fast"]];
    const s1 = bleuStats(hyps[0], refs[0]);
    expect(s1.matches).toEqual([5, 3, 1, 0]);
    expect(s1.totals).toEqual([6, 5, 4, 3]);
    const r = bleuFromStats(hyps.map((h, i) => bleuStats(h, refs[i])));
    const want = Math.exp(1 - 10 / 9) * Math.exp((Math.log(8 / 9) + Math.log(5 / 7) + Math.log(2 / 5) + Math.log(1 / 6)) / 4) * 100;
    expect(r.brevityPenalty).toBeCloseTo(Math.exp(1 - 10 / 9), 12);
    expect(r.precisions[3]).toBeCloseTo(100 / 6, 10);
    expect(corpusBleu(hyps, refs)).toBeCloseTo(want, 10);
  });

  it("identical text scores 100; clipping; the closest reference length", () => {
    expect(corpusBleu(["the quick brown fox jumps"], [["the quick brown fox jumps"]])).toBeCloseTo(100, 10);
    // "the the the the" vs "the cat": 1-gram matches clipped to 1 of 4
    expect(bleuStats("the the the the", ["the cat"]).matches[0]).toBe(1);
    // hyp length 3; refs of length 2 and 4 are equally close: the shorter (2) wins
    expect(bleuStats("a b c", ["a b", "a b c d"]).refLen).toBe(2);
    expect(corpusBleu([""], [["a b"]])).toBe(0);
  });
});

describe("chrF (sacreBLEU defaults)", () => {
  it("short strings: whitespace removed, orders averaged, beta 2", () => {
    // "ab c" -> "abc", ref "abd": 1-grams a,b,c vs a,b,d: 2 of 3 each way
    // 2-grams ab,bc vs ab,bd: 1 of 2; 3-grams abc vs abd: 0 of 1; orders 4-6 have no n-grams: skipped
    // P = R = (2/3 + 1/2 + 0) / 3 = 7/18; F2 = 5PR/(4P+R) = 7/18 -> 38.888...
    expect(chrfStatsOne("ab c", "abd").slice(0, 9)).toEqual([3, 3, 2, 2, 2, 1, 1, 1, 0]);
    expect(corpusChrf(["ab c"], [["abd"]])).toBeCloseTo((100 * 7) / 18, 10);
  });

  it("precision and recall differ: beta 2 favours recall", () => {
    // hyp "ab", ref "abab": 1-grams hyp a,b (2) ref a,a,b,b (4) match 2 -> P 1, R 1/2
    // 2-grams hyp ab (1), ref ab,ba,ab (3) match 1 -> P 1, R 1/3; orders 3.. hyp has none: skipped
    // P = 1, R = (1/2 + 1/3)/2 = 5/12; F2 = 5 * 1 * 5/12 / (4 + 5/12) = (25/12)/(53/12) = 25/53
    expect(chrfFromStats(chrfStatsOne("ab", "abab"))).toBeCloseTo((100 * 25) / 53, 10);
    expect(corpusChrf(["same text"], [["same text"]])).toBeCloseTo(100, 10);
  });
});

describe("SQuAD EM and F1", () => {
  it("normalizes case, punctuation, articles and spaces", () => {
    expect(normalizeAnswer("The  Eiffel-Tower!")).toBe("eiffeltower");
    expect(normalizeAnswer("an apple, a pear")).toBe("apple pear");
    expect(exactMatch("The Beatles.", "beatles")).toBe(1);
    expect(exactMatch("Beatles band", "beatles")).toBe(0);
  });

  it("token F1 and the best reference", () => {
    // output "red big house" vs "the big red barn" -> "big red barn": common red, big = 2
    // P = 2/3, R = 2/3 -> F1 = 2/3
    expect(tokenF1("red big house", "the big red barn")).toBeCloseTo(2 / 3, 12);
    expect(tokenF1("paris", "london")).toBe(0);
    const s = squadScores("Paris, France", ["London", "paris"]);
    // vs "paris": P 1/2, R 1 -> F1 2/3; EM 0
    expect(s).toEqual({ em: 0, f1: expect.closeTo(2 / 3, 12) });
    expect(squadScores("the Paris", ["Paris"]).em).toBe(1);
  });
});

describe("GSM8K numeric match", () => {
  it("extracts the last number, commas removed", () => {
    expect(lastNumber("She pays 3 x $1,200 = $3,600.")).toBe("3600");
    expect(lastNumber("no numbers")).toBeNull();
    expect(lastNumber("it is -4.5 degrees")).toBe("-4.5");
    expect(gsm8kAnswer("16 - 3 - 4 = <<16-3-4=9>>9 eggs\n#### 1,018")).toBe("1018");
  });

  it("compares numbers, not strings", () => {
    expect(numericScores("... so the answer is 18.00", ["blah\n#### 18"]).exact_match).toBe(1);
    expect(numericScores("18 eggs, then 19", ["#### 18"]).exact_match).toBe(0);
    expect(numericScores("I don't know", ["#### 18"]).exact_match).toBe(0);
  });
});

describe("log-likelihood multiple choice", () => {
  it("acc takes the highest sum, acc_norm the highest per byte", () => {
    // choice 0 " a": -2 over 2 bytes = -1/byte; choice 1 " longer": -3 over 7 bytes = -0.43/byte
    const s = choiceScores([-2, -3], [" a", " longer"], 1);
    expect(s.chosen).toBe(0);
    expect(s.acc).toBe(0);
    expect(s.acc_norm).toBe(1);
    const recs = [{ scores: { acc: 1, acc_norm: 0 } }, { scores: { acc: 0, acc_norm: 0 } }] as ExampleRecord[];
    expect(aggregate("loglik", recs)).toEqual({ acc: 0.5, acc_norm: 0 });
  });
});

describe("perplexity", () => {
  it("of a uniform distribution over k tokens is k", () => {
    // each token has log p = -ln 4; 10 tokens: nll = 10 ln 4 -> perplexity exp(ln 4) = 4
    // 5 words: word perplexity exp(10 ln 4 / 5) = 16; 20 bytes: bits per byte = 10 * 2 bits / 20 = 1
    const r = perplexityFromScores([
      { nll: 6 * Math.log(4), tokens: 6, words: 3, bytes: 12 },
      { nll: 4 * Math.log(4), tokens: 4, words: 2, bytes: 8 },
    ]);
    expect(r.perplexity).toBeCloseTo(4, 12);
    expect(r.word_perplexity).toBeCloseTo(16, 12);
    expect(r.bits_per_byte).toBeCloseTo(1, 12);
  });

  it("windows score every token once", () => {
    // 10 tokens, window 4, stride 2: [0,4) scores 1..3; then scores 4,5 with context 2..3, 6,7, 8,9
    expect(perplexityWindows(10, 4, 2)).toEqual([
      { start: 0, scoreFrom: 1, end: 4 },
      { start: 2, scoreFrom: 4, end: 6 },
      { start: 4, scoreFrom: 6, end: 8 },
      { start: 6, scoreFrom: 8, end: 10 },
    ]);
    expect(perplexityWindows(3, 8, 4)).toEqual([{ start: 0, scoreFrom: 1, end: 3 }]);
    expect(() => perplexityWindows(10, 4, 4)).toThrow(/stride/);
  });
});

describe("LAMBADA", () => {
  it("accuracy from greedy matches, perplexity from the mean target nll", () => {
    const a = lastWordScores([-0.5, -0.25], true);
    const b = lastWordScores([-2.25], false);
    expect(a).toEqual({ acc: 1, nll: 0.75 });
    // mean nll (0.75 + 2.25) / 2 = 1.5 -> perplexity e^1.5
    const r = lambadaFromScores([a, b]);
    expect(r.acc).toBe(0.5);
    expect(r.perplexity).toBeCloseTo(Math.exp(1.5), 12);
  });
});
