/**
 * Pre-tokenizer split rules for byte-level BPE vocabularies, keyed by the GGUF "tokenizer.ggml.pre" name.
 *
 * Each rule is a list of regular expressions applied one after another: every expression splits each
 * piece produced by the previous one, keeping both the matches and the text between them as pieces.
 * This is how llama.cpp pre-tokenizes, so ids agree with it. The expressions use the Oniguruma syntax of
 * tokenizer.json files; @huggingface/tokenizers translates them (\s becomes \p{White_Space}, the same
 * whitespace set llama.cpp uses).
 */

export interface PreTokenizerRule {
  /** Canonical name of the rule family (for diagnostics). */
  readonly family: string;
  readonly regexes: readonly string[];
  /** Take a whole pre-token as one id when it is in the vocabulary, before trying merges. */
  readonly ignoreMerges: boolean;
  /** Default for adding BOS when the metadata has no tokenizer.ggml.add_bos_token. */
  readonly addBosDefault: boolean;
}

const CONTRACTIONS_CASED = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

const LLAMA3 =
  `${CONTRACTIONS_CASED}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*` +
  "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const QWEN2 =
  `${CONTRACTIONS_CASED}|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*` +
  "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// llama.cpp rewrites the cased-letter classes of these two as "letter that is not a-z" and "letter that is
// not A-Z" (its regex engine cannot tell case outside ASCII); we use the same expressions to agree with it.
const UPPERISH = "((?=[\\p{L}])([^a-z]))";
const LOWERISH = "((?=[\\p{L}])([^A-Z]))";

const GPT4O =
  `[^\\r\\n\\p{L}\\p{N}]?${UPPERISH}*${LOWERISH}+${CONTRACTIONS_CASED}?` +
  `|[^\\r\\n\\p{L}\\p{N}]?${UPPERISH}+${LOWERISH}*${CONTRACTIONS_CASED}?` +
  "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const TEKKEN =
  `[^\\r\\n\\p{L}\\p{N}]?${UPPERISH}*${LOWERISH}+|[^\\r\\n\\p{L}\\p{N}]?${UPPERISH}+${LOWERISH}*` +
  "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

function rule(family: string, regexes: string[], opts: Partial<PreTokenizerRule> = {}): PreTokenizerRule {
  return { family, regexes, ignoreMerges: false, addBosDefault: false, ...opts };
}

const DEFAULT_RULE = rule("default", ["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"]);
const GPT2_RULE = rule("gpt2", [GPT2]);
const STARCODER_RULE = rule("starcoder", ["\\p{N}", GPT2]);
const LLAMA3_RULE = rule("llama3", [LLAMA3], { ignoreMerges: true, addBosDefault: true });
const QWEN2_RULE = rule("qwen2", [QWEN2]);

const RULES: ReadonlyMap<string, PreTokenizerRule> = new Map<string, PreTokenizerRule>([
  ["default", DEFAULT_RULE],
  ...["gpt-2", "phi-2", "mpt", "olmo", "jais", "exaone4", "trillion", "granite-docling", "roberta-bpe"].map(
    (n) => [n, GPT2_RULE] as const,
  ),
  ...["starcoder", "smollm", "refact", "command-r", "codeshell", "exaone", "minerva-7b", "mellum2"].map(
    (n) => [n, STARCODER_RULE] as const,
  ),
  ...["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"].map(
    (n) => [n, LLAMA3_RULE] as const,
  ),
  ...["dbrx", "smaug-bpe"].map((n) => [n, rule("llama3", [LLAMA3])] as const),
  ...["glm4", "chatglm-bpe"].map((n) => [n, rule("chatglm4", [LLAMA3])] as const),
  ...["qwen2", "deepseek-r1-qwen", "stablelm2", "megrez"].map((n) => [n, QWEN2_RULE] as const),
  ["falcon", rule("falcon", ["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"])],
  ...["gpt-4o", "llama4"].map((n) => [n, rule("gpt4o", [GPT4O])] as const),
  ["tekken", rule("tekken", [TEKKEN], { ignoreMerges: true })],
]);

/**
 * The split rule for a "tokenizer.ggml.pre" value. A missing name means llama.cpp's "default" rule.
 * An unknown name falls back to the plain GPT-2 expression (what most byte-level BPE vocabularies were
 * trained with) and says so in `fallback`, so the caller can warn.
 */
export function preTokenizerRule(pre: string | undefined): { rule: PreTokenizerRule; fallback: boolean } {
  if (pre === undefined || pre === "") return { rule: DEFAULT_RULE, fallback: false };
  const found = RULES.get(pre);
  if (found) return { rule: found, fallback: false };
  return { rule: GPT2_RULE, fallback: true };
}

/** Names with a dedicated rule (for tests and diagnostics). */
export function knownPreTokenizers(): string[] {
  return [...RULES.keys()];
}
