/**
 * Builds @huggingface/tokenizers models for the two GGUF vocabulary kinds. They only ever see plain text:
 * special tokens are split off beforehand (see special-split.ts), so no added tokens are declared here.
 */
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import type { PreTokenizerRule } from "./pre-tokenizers.js";

/** Token text -> id, last id winning for duplicate texts (as in llama.cpp). A null prototype keeps
 * texts such as "__proto__" ordinary keys. */
function vocabObject(texts: readonly string[]): Record<string, number> {
  const vocab: Record<string, number> = Object.create(null);
  texts.forEach((text, id) => {
    vocab[text] = id;
  });
  return vocab;
}

/** Byte-level BPE: split with the rule's expressions in turn, map bytes to characters, apply merges. */
export function byteLevelEncoder(
  texts: readonly string[],
  merges: [string, string][],
  rule: PreTokenizerRule,
): HfTokenizer {
  const splits = rule.regexes.map((regex) => ({
    type: "Split",
    pattern: { Regex: regex },
    behavior: "Isolated",
    invert: false,
  }));
  return new HfTokenizer(
    {
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [...splits, { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false }],
      },
      post_processor: null,
      decoder: null,
      model: {
        type: "BPE",
        vocab: vocabObject(texts),
        merges,
        ignore_merges: rule.ignoreMerges,
        byte_fallback: false,
      },
    },
    {},
  );
}

/**
 * SentencePiece BPE over whole fragments (no pre-splitting: SentencePiece merges may join across "▁"),
 * with <0xNN> byte tokens for characters the vocabulary lacks. The caller has already replaced spaces.
 */
export function sentencePieceEncoder(
  texts: readonly string[],
  merges: [string, string][],
  unkText: string | undefined,
): HfTokenizer {
  return new HfTokenizer(
    {
      added_tokens: [],
      normalizer: null,
      pre_tokenizer: null,
      post_processor: null,
      decoder: null,
      model: {
        type: "BPE",
        vocab: vocabObject(texts),
        merges,
        ignore_merges: false,
        byte_fallback: true,
        unk_token: unkText ?? null,
      },
    },
    {},
  );
}
