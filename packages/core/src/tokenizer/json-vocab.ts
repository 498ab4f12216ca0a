/**
 * Reads a Hugging Face tokenizer.json (plus, optionally, its tokenizer_config.json) into a VocabSpec. The
 * json's own normalizer, pre-tokenizer and model encode the plain text; special tokens are split off by
 * the Tokenizer itself so that parseSpecial works the same way for every source.
 */
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { ModelLoadError } from "../errors.js";
import { TokenType, type VocabSpec } from "./vocab.js";

type TokenRef = string | { content: string };

/** The tokenizer_config.json fields that matter here. */
export interface TokenizerJsonConfig {
  bos_token?: TokenRef | null;
  eos_token?: TokenRef | null;
  unk_token?: TokenRef | null;
  pad_token?: TokenRef | null;
  add_bos_token?: boolean;
  add_eos_token?: boolean;
  chat_template?: string;
  [key: string]: unknown;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every component of a (possibly nested Sequence) normalizer / pre-tokenizer / decoder / processor. */
function components(node: unknown): Json[] {
  if (!isObject(node)) return [];
  const children = [node.normalizers, node.pretokenizers, node.decoders, node.processors].find(Array.isArray) as
    | unknown[]
    | undefined;
  return children ? children.flatMap(components) : [node];
}

function refText(ref: TokenRef | null | undefined): string | undefined {
  if (ref === null || ref === undefined) return undefined;
  return typeof ref === "string" ? ref : ref.content;
}

export function vocabFromTokenizerJson(json: unknown, config: TokenizerJsonConfig = {}): VocabSpec {
  if (!isObject(json) || !isObject(json.model)) {
    throw new ModelLoadError("tokenizer.json must be an object with a \"model\" entry");
  }
  const model = json.model;
  const entries: [string, number][] = Array.isArray(model.vocab)
    ? (model.vocab as [string, number][]).map(([text], id) => [text, id])
    : isObject(model.vocab)
      ? Object.entries(model.vocab as Record<string, number>)
      : [];
  if (entries.length === 0) throw new ModelLoadError("tokenizer.json has an empty model vocabulary");
  const added = (Array.isArray(json.added_tokens) ? json.added_tokens : []) as {
    id: number;
    content: string;
    special?: boolean;
  }[];

  let n = 0;
  for (const [, id] of entries) n = Math.max(n, id + 1);
  for (const t of added) n = Math.max(n, t.id + 1);
  const texts: string[] = Array.from({ length: n }, (_, i) => `[EMPTY_${i}]`);
  const types = new Uint8Array(n).fill(TokenType.UNDEFINED);
  const byteFallback = model.byte_fallback === true;
  for (const [text, id] of entries) {
    texts[id] = text;
    types[id] = byteFallback && /^<0x[0-9A-F]{2}>$/.test(text) ? TokenType.BYTE : TokenType.NORMAL;
  }
  for (const t of added) {
    texts[t.id] = t.content;
    types[t.id] = t.special ? TokenType.CONTROL : TokenType.USER_DEFINED;
  }
  const idOf = new Map<string, number>();
  texts.forEach((t, i) => idOf.set(t, i));
  const idOfRef = (ref: TokenRef | null | undefined) => {
    const text = refText(ref);
    return text === undefined ? undefined : idOf.get(text);
  };

  // BOS/EOS: named by tokenizer_config.json, else read off the post-processor's single-sequence template.
  const template = components(json.post_processor).find((c) => c.type === "TemplateProcessing");
  const single = (Array.isArray(template?.single) ? template.single : []) as Json[];
  const templateSpecial = (item: Json | undefined) => {
    if (!item || !isObject(item.SpecialToken)) return undefined;
    return idOf.get(String(item.SpecialToken.id));
  };
  const templateBos = templateSpecial(single[0]);
  const templateEos = single.length > 1 ? templateSpecial(single[single.length - 1]) : undefined;
  const bosId = idOfRef(config.bos_token) ?? templateBos ?? null;
  const eosId = idOfRef(config.eos_token) ?? templateEos ?? null;
  const unkId =
    idOfRef(config.unk_token) ??
    (typeof model.unk_token === "string" ? idOf.get(model.unk_token) : undefined) ??
    (typeof model.unk_id === "number" ? model.unk_id : undefined) ??
    null;
  if (unkId !== null && types[unkId] !== TokenType.CONTROL) types[unkId] = TokenType.UNKNOWN;

  const parts = [...components(json.pre_tokenizer), ...components(json.decoder)];
  const byteLevel = parts.some((c) => c.type === "ByteLevel");
  const prependsSpace =
    components(json.normalizer).some((c) => c.type === "Prepend" && c.prepend === "▁") ||
    components(json.pre_tokenizer).some(
      (c) => c.type === "Metaspace" && c.prepend_scheme !== "never" && c.add_prefix_space !== false,
    );

  let encoder: HfTokenizer;
  try {
    encoder = new HfTokenizer({ ...json, added_tokens: [], post_processor: null }, config);
  } catch (cause) {
    throw new ModelLoadError(`tokenizer.json could not be loaded: ${(cause as Error).message}`, { cause });
  }

  return {
    pieceEncoding: byteLevel ? "byte-level" : "sentencepiece",
    texts,
    types,
    bosId,
    eosId,
    unkId,
    padId: idOfRef(config.pad_token) ?? null,
    addBos: config.add_bos_token ?? templateBos !== undefined,
    addEos: config.add_eos_token ?? templateEos !== undefined,
    addSpacePrefix: !byteLevel && prependsSpace,
    escapeSpaces: false,
    extraEogIds: [],
    fimStopIds: [null, null, null],
    encoder,
    chatTemplate: typeof config.chat_template === "string" ? config.chat_template : undefined,
    warnings: [],
  };
}
