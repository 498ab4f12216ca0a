// Corpus BLEU with sacreBLEU's defaults (signature nrefs:N|case:mixed|eff:no|
// tok:13a|smooth:exp): mteval-v13a tokenization, n-grams up to 4 clipped by
// the largest count in any reference, the reference length closest to each
// hypothesis (the shorter one on ties), statistics summed over the corpus,
// brevity penalty, and "exp" smoothing of zero n-gram matches. 0-100.

const ORDER = 4;

/** sacreBLEU's 13a tokenizer (mteval-v13a). */
export function tokenize13a(line: string): string[] {
  let s = line
    .replaceAll("<skipped>", "")
    .replaceAll("-\n", "")
    .replaceAll("\n", " ")
    .replaceAll("&quot;", '"')
    .replaceAll("&amp;", "&")
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">");
  s = ` ${s} `;
  s = s.replace(/([\{-\~\[-\` -\&\(-\+\:-\@\/])/g, " $1 ");
  s = s.replace(/([^0-9])([.,])/g, "$1 $2 ");
  s = s.replace(/([.,])([^0-9])/g, " $1 $2");
  s = s.replace(/([0-9])(-)/g, "$1 $2 ");
  return s.split(/\s+/).filter((t) => t.length > 0);
}

/** Sufficient statistics of one segment: matches and totals per order, hypothesis and reference length. */
export interface BleuStats {
  matches: number[];
  totals: number[];
  hypLen: number;
  refLen: number;
}

function ngrams(tokens: string[], n: number): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const k = tokens.slice(i, i + n).join("\u0001");
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

export function bleuStats(hypothesis: string, references: string[]): BleuStats {
  const hyp = tokenize13a(hypothesis);
  const refs = references.map(tokenize13a);
  let refLen = refs.length > 0 ? refs[0].length : 0;
  for (const r of refs) {
    const d = Math.abs(r.length - hyp.length);
    const best = Math.abs(refLen - hyp.length);
    if (d < best || (d === best && r.length < refLen)) refLen = r.length;
  }
  const matches: number[] = [];
  const totals: number[] = [];
  for (let n = 1; n <= ORDER; n++) {
    const maxRef = new Map<string, number>();
    for (const r of refs) for (const [k, c] of ngrams(r, n)) maxRef.set(k, Math.max(maxRef.get(k) ?? 0, c));
    let match = 0;
    for (const [k, c] of ngrams(hyp, n)) match += Math.min(c, maxRef.get(k) ?? 0);
    matches.push(match);
    totals.push(Math.max(0, hyp.length - n + 1));
  }
  return { matches, totals, hypLen: hyp.length, refLen };
}

/** BLEU (0-100) from statistics summed over a corpus. */
export function bleuFromStats(stats: BleuStats[]): { bleu: number; precisions: number[]; brevityPenalty: number } {
  const matches = new Array<number>(ORDER).fill(0);
  const totals = new Array<number>(ORDER).fill(0);
  let hypLen = 0;
  let refLen = 0;
  for (const s of stats) {
    for (let n = 0; n < ORDER; n++) {
      matches[n] += s.matches[n];
      totals[n] += s.totals[n];
    }
    hypLen += s.hypLen;
    refLen += s.refLen;
  }
  const precisions = new Array<number>(ORDER).fill(0);
  // "exp" smoothing: the k-th order with no match gets precision 1 / (2^k * total).
  let smooth = 1;
  for (let n = 0; n < ORDER; n++) {
    if (totals[n] === 0) break;
    if (matches[n] === 0) {
      smooth *= 2;
      precisions[n] = 100 / (smooth * totals[n]);
    } else {
      precisions[n] = (100 * matches[n]) / totals[n];
    }
  }
  const brevityPenalty = hypLen === 0 ? 0 : hypLen < refLen ? Math.exp(1 - refLen / hypLen) : 1;
  if (precisions.some((p) => p === 0)) return { bleu: 0, precisions, brevityPenalty };
  const logMean = precisions.reduce((a, p) => a + Math.log(p), 0) / ORDER;
  return { bleu: brevityPenalty * Math.exp(logMean), precisions, brevityPenalty };
}

/** Corpus BLEU of outputs against their references (0-100). */
export function corpusBleu(outputs: string[], references: string[][]): number {
  return bleuFromStats(outputs.map((o, i) => bleuStats(o, references[i]))).bleu;
}
