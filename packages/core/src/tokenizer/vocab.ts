/**
 * The vocabulary facts a Tokenizer needs, independent of where they came from (GGUF metadata or a
 * tokenizer.json), and the llama.cpp rules that derive end-of-generation tokens from them.
 */
import type { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";

/** GGUF token types (tokenizer.ggml.token_type), as llama.cpp numbers them. */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;
export type TokenTypeValue = (typeof TokenType)[keyof typeof TokenType];

/**
 * How a token's text maps to output bytes:
 * - "byte-level": GPT-2 style, each character of the text stands for one byte;
 * - "sentencepiece": UTF-8 text with "▁" for spaces, and <0xNN> tokens for raw bytes.
 */
export type PieceEncoding = "byte-level" | "sentencepiece";

export interface VocabSpec {
  pieceEncoding: PieceEncoding;
  texts: string[];
  types: Uint8Array;
  bosId: number | null;
  eosId: number | null;
  unkId: number | null;
  padId: number | null;
  addBos: boolean;
  addEos: boolean;
  /**
   * SentencePiece only: a space is put before the text at the start and after every special token, and
   * decoding drops it again from the first piece.
   */
  addSpacePrefix: boolean;
  /** Whether encode() itself must add that space and turn spaces into "▁" (the GGUF path); a
   * tokenizer.json does this in its own normalizer. */
  escapeSpaces: boolean;
  /** Ids that end generation besides the marker tokens (eot/eom ids from metadata). */
  extraEogIds: number[];
  /** FIM pad / repo / file-separator ids named by metadata (null: find them by their marker text). */
  fimStopIds: (number | null)[];
  /** Encodes text that contains no special tokens. */
  encoder: HfTokenizer;
  chatTemplate: string | undefined;
  warnings: string[];
}

/** Texts that llama.cpp treats as end-of-generation markers whatever their declared type. */
const EOG_MARKERS: ReadonlySet<string> = new Set([
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<|return|>",
  "<|call|>",
  "<|flush|>",
  "<|calls|>",
  "<end_of_turn>",
  "<|endoftext|>",
  "</s>",
  "<|eom_id|>",
  "<EOT>",
  "_<EOT>",
  "[EOT]",
  "[EOS]",
  "<|end_of_text|>",
  "<end_of_utterance>",
  "<eos>",
  "<turn|>",
  "<|tool_response>",
  "<｜end▁of▁sentence｜>",
  "[e~[",
]);

/** Fill-in-the-middle pad/repo/file-separator markers; llama.cpp also stops generation on them. */
const FIM_STOP_MARKERS: readonly (readonly string[])[] = [
  ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
  ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
  ["<|file_sep|>"],
];

/**
 * End-of-generation ids as llama.cpp computes them: every marker text (forced to CONTROL type, as
 * llama.cpp does, so it is matched and skipped like one), the first FIM stop marker of each kind unless
 * metadata named one, the explicit extra ids, and EOS.
 */
export function endOfGenerationIds(
  texts: readonly string[],
  types: Uint8Array,
  eosId: number | null,
  explicitIds: readonly number[],
  explicitFimIds: readonly (number | null)[],
): Set<number> {
  const eog = new Set<number>();
  const firstIdOf = new Map<string, number>();
  for (let id = 0; id < texts.length; id++) {
    const text = texts[id];
    if (!firstIdOf.has(text)) firstIdOf.set(text, id);
    if (EOG_MARKERS.has(text)) {
      eog.add(id);
      if (types[id] !== TokenType.CONTROL) types[id] = TokenType.CONTROL;
    }
  }
  FIM_STOP_MARKERS.forEach((markers, kind) => {
    const explicit = explicitFimIds[kind];
    if (explicit !== null && explicit !== undefined) {
      eog.add(explicit);
      return;
    }
    for (const marker of markers) {
      const id = firstIdOf.get(marker);
      if (id !== undefined) {
        eog.add(id);
        types[id] = TokenType.CONTROL;
        break;
      }
    }
  });
  for (const id of explicitIds) eog.add(id);
  if (eosId !== null) eog.add(eosId);
  return eog;
}
