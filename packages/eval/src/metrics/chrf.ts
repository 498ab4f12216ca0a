// chrF with sacreBLEU's defaults (chrF2): character n-grams of orders 1-6,
// beta 2, no word n-grams, whitespace removed, no eps smoothing. Precision
// and recall are averaged over the orders where both sides have n-grams, then
// combined as F-beta. Corpus chrF sums the statistics over segments; with
// several references a segment uses the reference that scores it best. 0-100.

const CHAR_ORDER = 6;
const BETA = 2;

function charNgrams(text: string, n: number): Map<string, number> {
  const chars = Array.from(text);
  const m = new Map<string, number>();
  for (let i = 0; i + n <= chars.length; i++) {
    const k = chars.slice(i, i + n).join("");
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/** [hyp n-grams, ref n-grams, matches] for each order 1..6, flattened. */
export function chrfStatsOne(hypothesis: string, reference: string): number[] {
  const h = hypothesis.replace(/\s+/g, "");
  const r = reference.replace(/\s+/g, "");
  const stats: number[] = [];
  for (let n = 1; n <= CHAR_ORDER; n++) {
    const hn = charNgrams(h, n);
    const rn = charNgrams(r, n);
    let hypCount = 0;
    let refCount = 0;
    let match = 0;
    for (const [k, c] of hn) {
      hypCount += c;
      match += Math.min(c, rn.get(k) ?? 0);
    }
    for (const c of rn.values()) refCount += c;
    stats.push(hypCount, refCount, match);
  }
  return stats;
}

export function chrfFromStats(stats: number[]): number {
  const factor = BETA * BETA;
  let prec = 0;
  let rec = 0;
  let orders = 0;
  for (let i = 0; i < CHAR_ORDER; i++) {
    const [hyp, ref, match] = stats.slice(3 * i, 3 * i + 3);
    if (hyp > 0 && ref > 0) {
      prec += match / hyp;
      rec += match / ref;
      orders++;
    }
  }
  if (orders === 0) return 0;
  prec /= orders;
  rec /= orders;
  if (prec + rec === 0) return 0;
  return (100 * (1 + factor) * prec * rec) / (factor * prec + rec);
}

/** Statistics of a segment against its best-scoring reference. */
export function chrfStats(hypothesis: string, references: string[]): number[] {
  let best: number[] = new Array<number>(3 * CHAR_ORDER).fill(0);
  let bestScore = -1;
  for (const ref of references) {
    const s = chrfStatsOne(hypothesis, ref);
    const score = chrfFromStats(s);
    if (score > bestScore) {
      best = s;
      bestScore = score;
    }
  }
  return best;
}

export function corpusChrf(outputs: string[], references: string[][]): number {
  const sum = new Array<number>(3 * CHAR_ORDER).fill(0);
  outputs.forEach((o, i) => chrfStats(o, references[i]).forEach((v, j) => (sum[j] += v)));
  return chrfFromStats(sum);
}
