/**
 * Merge list for a SentencePiece BPE vocabulary that stores scores instead of merges (GGUF "llama" model).
 *
 * SentencePiece BPE repeatedly joins the adjacent pair whose concatenation is a vocabulary token with the
 * highest score. A symbol is either a single character of the input or a token made by an earlier join,
 * so the candidate pairs are all splits of a token into two parts that are each a token or a single
 * character. Ordering these pairs by the score of the token they make gives a ranked merge list that a
 * standard BPE model applies in the same order.
 */
export function mergesFromScores(
  texts: readonly string[],
  scores: ArrayLike<number>,
  idOf: ReadonlyMap<string, number>,
): [string, string][] {
  const candidates: { left: string; right: string; score: number; id: number }[] = [];
  const isSymbol = (part: string[]) => part.length === 1 || idOf.has(part.join(""));
  for (let id = 0; id < texts.length; id++) {
    const chars = Array.from(texts[id]);
    if (chars.length < 2 || idOf.get(texts[id]) !== id) continue;
    for (let cut = 1; cut < chars.length; cut++) {
      const left = chars.slice(0, cut);
      const right = chars.slice(cut);
      if (isSymbol(left) && isSymbol(right)) {
        candidates.push({ left: left.join(""), right: right.join(""), score: scores[id] ?? 0, id });
      }
    }
  }
  // Highest score first; equal scores keep vocabulary order so the result is deterministic.
  candidates.sort((a, b) => b.score - a.score || a.id - b.id);
  return candidates.map((c) => [c.left, c.right]);
}
