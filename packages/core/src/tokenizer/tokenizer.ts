/**
 * Text <-> token ids for a model, matching llama.cpp's tokenizer: special tokens are cut out of the text
 * first (llama.cpp's order), the plain text between them goes through the vocabulary's BPE model
 * (@huggingface/tokenizers), and BOS/EOS are added as the model asks.
 */
import { InvalidOptionError } from "../errors.js";
import { byteLevelTextToBytes } from "./byte-level.js";
import { type GgufMetadata, vocabFromGguf } from "./gguf-vocab.js";
import { type TokenizerJsonConfig, vocabFromTokenizerJson } from "./json-vocab.js";
import { SpecialSplitter } from "./special-split.js";
import { endOfGenerationIds, type PieceEncoding, TokenType, type VocabSpec } from "./vocab.js";

export interface EncodeOptions {
  /** Add BOS/EOS where the model asks for them (tokenizer.ggml.add_bos_token / add_eos_token). Default true. */
  addSpecial?: boolean;
  /** Turn special-token texts such as "<|im_start|>" into their ids. Default true (prompts from a chat
   * template rely on it); pass false for untrusted text that must never produce control tokens. */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Leave out control and unknown tokens (BOS, EOS, "<|im_end|>", ...). Default false. */
  skipSpecial?: boolean;
}

const EMPTY = new Uint8Array(0);
const SPACE = 0x20;
const utf8Encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF in the text instead of swallowing it.
const UTF8_DECODER = new TextDecoder("utf-8", { ignoreBOM: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

export class Tokenizer {
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly unkId: number | undefined;
  readonly padId: number | undefined;
  /** Ids that end generation: EOS, and end-of-turn style control tokens, as llama.cpp counts them. */
  readonly eotIds: ReadonlySet<number>;
  /** Whether encode() with addSpecial puts BOS first / EOS last. */
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** The chat template the model ships with, if any. */
  readonly chatTemplate: string | undefined;
  /** Things worth telling the user about the vocabulary (e.g. an unknown pre-tokenizer name). */
  readonly warnings: readonly string[];

  private readonly spec: VocabSpec;
  private readonly idOf: Map<string, number>;
  private readonly splitter: SpecialSplitter;
  private readonly pieces: (Uint8Array | undefined)[];

  private constructor(spec: VocabSpec) {
    this.spec = spec;
    this.bosId = spec.bosId ?? undefined;
    this.eosId = spec.eosId ?? undefined;
    this.unkId = spec.unkId ?? undefined;
    this.padId = spec.padId ?? undefined;
    this.addBos = spec.addBos && spec.bosId !== null;
    this.addEos = spec.addEos && spec.eosId !== null;
    this.chatTemplate = spec.chatTemplate;
    this.warnings = spec.warnings;
    // Before building the splitter: marker tokens may be promoted to CONTROL here.
    this.eotIds = endOfGenerationIds(spec.texts, spec.types, spec.eosId, spec.extraEogIds, spec.fimStopIds);
    this.idOf = new Map();
    spec.texts.forEach((text, id) => this.idOf.set(text, id));
    const specials = [];
    for (let id = 0; id < spec.texts.length; id++) {
      const type = spec.types[id];
      if (type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.USER_DEFINED) {
        specials.push({ id, text: spec.texts[id], onlyWhenParsing: type !== TokenType.USER_DEFINED });
      }
    }
    this.splitter = new SpecialSplitter(specials);
    this.pieces = new Array(spec.texts.length);
  }

  /** Build from GGUF metadata (the tokenizer.* keys; other keys are ignored). */
  static fromGgufMetadata(meta: GgufMetadata): Tokenizer {
    return new Tokenizer(vocabFromGguf(meta));
  }

  /** Build from a tokenizer.json object, with its tokenizer_config.json for BOS/EOS names if available. */
  static fromTokenizerJson(json: unknown, config?: TokenizerJsonConfig): Tokenizer {
    return new Tokenizer(vocabFromTokenizerJson(json, config));
  }

  get vocabSize(): number {
    return this.spec.texts.length;
  }

  /** How token texts map to bytes ("byte-level" BPE or "sentencepiece"). */
  get pieceEncoding(): PieceEncoding {
    return this.spec.pieceEncoding;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const { addSpecial = true, parseSpecial = true } = options;
    if (typeof text !== "string") throw new InvalidOptionError("text", "must be a string");
    // Lone surrogates become U+FFFD, as they do on their way into llama.cpp.
    const input = text.replace(LONE_SURROGATE, "\uFFFD");
    const ids: number[] = [];
    if (addSpecial && this.addBos) ids.push(this.bosId!);
    let afterSpecial = true;
    for (const fragment of this.splitter.split(input, parseSpecial)) {
      if (typeof fragment === "number") {
        ids.push(fragment);
        afterSpecial = true;
        continue;
      }
      this.encodePlain(fragment, afterSpecial, ids);
      afterSpecial = false;
    }
    if (addSpecial && this.addEos) ids.push(this.eosId!);
    return ids;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const skipSpecial = options.skipSpecial ?? false;
    const chunks: Uint8Array[] = [];
    let total = 0;
    let atStart = true;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.pieceBytes(ids[i], skipSpecial, atStart);
      atStart &&= ids[i] === this.bosId;
      chunks.push(bytes);
      total += bytes.length;
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return UTF8_DECODER.decode(all);
  }

  /** The text of one token on its own (an incomplete UTF-8 sequence shows as U+FFFD; use
   * TextStreamDecoder to join pieces). */
  tokenToPiece(id: number, options: DecodeOptions = {}): string {
    return UTF8_DECODER.decode(this.pieceBytes(id, options.skipSpecial ?? false, false));
  }

  /**
   * The bytes one token stands for. `atStart`: the token is first in the output (or follows only BOS);
   * SentencePiece vocabularies then drop the space that encode() put before the text.
   */
  pieceBytes(id: number, skipSpecial: boolean, atStart: boolean): Uint8Array {
    this.checkId(id);
    const type = this.spec.types[id];
    if (skipSpecial && (type === TokenType.CONTROL || type === TokenType.UNKNOWN)) return EMPTY;
    let bytes = this.pieces[id];
    if (bytes === undefined) {
      bytes = this.computePiece(id);
      this.pieces[id] = bytes;
    }
    if (atStart && this.spec.addSpacePrefix && bytes[0] === SPACE) return bytes.subarray(1);
    return bytes;
  }

  /** Control or unknown token (the kind skipSpecial leaves out). */
  isSpecial(id: number): boolean {
    this.checkId(id);
    const type = this.spec.types[id];
    return type === TokenType.CONTROL || type === TokenType.UNKNOWN;
  }

  isEndOfGeneration(id: number): boolean {
    return this.eotIds.has(id);
  }

  /** The vocabulary's own text for an id (byte-level characters, "▁", "<0x0A>" as stored). */
  tokenText(id: number): string {
    this.checkId(id);
    return this.spec.texts[id];
  }

  /** The id whose vocabulary text is exactly `text`, if any. */
  tokenId(text: string): number | undefined {
    return this.idOf.get(text);
  }

  private checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.spec.texts.length) {
      throw new InvalidOptionError("id", `token id ${id} is outside the vocabulary (0..${this.spec.texts.length - 1})`);
    }
  }

  private encodePlain(fragment: string, afterSpecial: boolean, out: number[]): void {
    let text = fragment;
    if (this.spec.escapeSpaces) {
      if (this.spec.addSpacePrefix && afterSpecial) text = " " + text;
      text = text.replaceAll(" ", "▁");
    }
    const ids = this.spec.encoder.encode(text, { add_special_tokens: false }).ids;
    for (const id of ids) {
      // A piece missing from the vocabulary (only possible with a defective vocabulary) maps to UNK.
      if (id !== undefined) out.push(id);
      else if (this.unkId !== undefined) out.push(this.unkId);
    }
  }

  private computePiece(id: number): Uint8Array {
    const text = this.spec.texts[id];
    switch (this.spec.types[id]) {
      case TokenType.NORMAL:
        return this.spec.pieceEncoding === "byte-level"
          ? byteLevelTextToBytes(text)
          : utf8Encoder.encode(text.replaceAll("▁", " "));
      case TokenType.BYTE: {
        const hex = /^<0x([0-9A-Fa-f]{2})>$/.exec(text);
        if (hex) return Uint8Array.of(parseInt(hex[1], 16));
        return this.spec.pieceEncoding === "byte-level" ? byteLevelTextToBytes(text) : utf8Encoder.encode(text);
      }
      case TokenType.CONTROL:
      case TokenType.UNKNOWN:
      case TokenType.USER_DEFINED:
        return utf8Encoder.encode(text);
      default:
        // UNUSED and UNDEFINED tokens print nothing (llama.cpp does the same).
        return EMPTY;
    }
  }
}
