// Tokenizer on small hand-made vocabularies whose ids can be worked out by hand.
// (Agreement with llama.cpp on the real model is in test/peer/tokenizer-vs-llama.test.ts.)
import { describe, expect, it } from "vitest";
import { InvalidOptionError, ModelLoadError } from "../src/errors.js";
import { knownPreTokenizers, TextStreamDecoder, Tokenizer, TokenType } from "../src/tokenizer/index.js";

/** GPT-2's byte -> character table, written out independently of the implementation. */
function byteChars(): string[] {
  const chars: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    chars.push(String.fromCodePoint(printable ? b : 256 + extra++));
  }
  return chars;
}

const SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const USER_DEFINED = "<tool>";
const MERGES: [string, string][] = [
  ["h", "e"],
  ["l", "l"],
  ["he", "ll"],
  ["hell", "o"],
  ["Ġ", "w"],
  ["o", "r"],
  ["Ġw", "or"],
  ["l", "d"],
  ["Ġwor", "ld"],
  ["1", "2"],
];

function byteLevelMeta(extra: Record<string, unknown> = {}) {
  const tokens = [...SPECIALS, USER_DEFINED, ...byteChars()];
  for (const [a, b] of MERGES) if (!tokens.includes(a + b)) tokens.push(a + b);
  return {
    "tokenizer.ggml.model": "gpt2",
    "tokenizer.ggml.pre": "smollm",
    "tokenizer.ggml.tokens": tokens,
    "tokenizer.ggml.token_type": tokens.map((_, i) => (i < 3 ? TokenType.CONTROL : i === 3 ? TokenType.USER_DEFINED : TokenType.NORMAL)),
    "tokenizer.ggml.merges": MERGES.map(([a, b]) => `${a} ${b}`),
    "tokenizer.ggml.bos_token_id": 1,
    "tokenizer.ggml.eos_token_id": 2,
    "tokenizer.ggml.add_bos_token": false,
    ...extra,
  };
}

describe("byte-level BPE from GGUF metadata", () => {
  const meta = byteLevelMeta();
  const tok = Tokenizer.fromGgufMetadata(meta);
  const tokens = meta["tokenizer.ggml.tokens"];
  const id = (text: string) => tokens.indexOf(text);
  const byteId = (b: number) => 4 + b;

  it("applies merges by rank inside each pre-token", () => {
    expect(tok.encode("hello world")).toEqual([id("hello"), id("Ġworld")]);
    // "hel" stops at "he" + "l": no merge makes "hel".
    expect(tok.encode("hel")).toEqual([id("he"), id("l")]);
  });

  it("isolates every digit before merging (smollm pre-tokenizer), so '12' never merges", () => {
    expect(tok.encode("12")).toEqual([id("1"), id("2")]);
  });

  it("maps bytes of non-ASCII text to byte tokens and decodes them back", () => {
    const text = "héllo 😀";
    const ids = tok.encode(text);
    expect(ids.slice(-4)).toEqual([0xf0, 0x9f, 0x98, 0x80].map(byteId));
    expect(tok.decode(ids)).toBe(text);
  });

  it("parses control tokens only when asked, user-defined tokens always", () => {
    expect(tok.encode("<|im_start|>he")).toEqual([1, id("he")]);
    const literal = tok.encode("<|im_start|>", { parseSpecial: false });
    expect(literal).not.toContain(1);
    expect(tok.decode(literal)).toBe("<|im_start|>");
    expect(tok.encode("a<tool>b", { parseSpecial: false })).toEqual([id("a"), 3, id("b")]);
  });

  it("adds BOS only when the metadata says so", () => {
    expect(tok.addBos).toBe(false);
    const withBos = Tokenizer.fromGgufMetadata(byteLevelMeta({ "tokenizer.ggml.add_bos_token": true }));
    expect(withBos.encode("he")).toEqual([1, id("he")]);
    expect(withBos.encode("he", { addSpecial: false })).toEqual([id("he")]);
    expect(withBos.encode("")).toEqual([1]);
  });

  it("skips control tokens on request when decoding", () => {
    const ids = tok.encode("<|im_start|>hello<|im_end|>");
    expect(tok.decode(ids)).toBe("<|im_start|>hello<|im_end|>");
    expect(tok.decode(ids, { skipSpecial: true })).toBe("hello");
    expect(tok.isSpecial(1)).toBe(true);
    expect(tok.isSpecial(3)).toBe(false);
    expect(tok.isSpecial(id("he"))).toBe(false);
  });

  it("counts EOS and end-of-turn markers as end of generation", () => {
    expect([...tok.eotIds].sort()).toEqual([0, 2]);
    expect(tok.isEndOfGeneration(2)).toBe(true);
    expect(tok.bosId).toBe(1);
    expect(tok.eosId).toBe(2);
    expect(tok.vocabSize).toBe(tokens.length);
  });

  it("streams text without splitting a character across deltas", () => {
    const ids = tok.encode("a😀b");
    const stream = new TextStreamDecoder(tok);
    const deltas = ids.map((i) => stream.push(i));
    expect(deltas).toEqual(["a", "", "", "", "😀", "b"]);
    expect(stream.flush()).toBe("");
  });

  it("flushes an unfinished character as U+FFFD", () => {
    const stream = new TextStreamDecoder(tok);
    expect(stream.push(byteId(0xf0))).toBe("");
    expect(stream.flush()).toBe("\ufffd");
    expect(stream.push(id("he"))).toBe("he");
  });

  it("turns lone surrogates into U+FFFD as llama.cpp receives them", () => {
    expect(tok.encode("a\ud800b")).toEqual(tok.encode("a\ufffdb"));
  });

  it("falls back to the GPT-2 split for an unknown pre-tokenizer name, with a warning", () => {
    const t = Tokenizer.fromGgufMetadata(byteLevelMeta({ "tokenizer.ggml.pre": "no-such-pre" }));
    expect(t.warnings.join()).toMatch(/no-such-pre/);
    expect(t.encode("12")).toEqual([id("12")]);
    expect(knownPreTokenizers()).toEqual(expect.arrayContaining(["smollm", "llama-bpe", "qwen2", "gpt-2", "default"]));
  });

  it("rejects unusable metadata with ModelLoadError", () => {
    expect(() => Tokenizer.fromGgufMetadata({})).toThrow(ModelLoadError);
    expect(() => Tokenizer.fromGgufMetadata({ ...meta, "tokenizer.ggml.model": "bert" })).toThrow(/Unsupported tokenizer model "bert"/);
    expect(() => Tokenizer.fromGgufMetadata({ ...meta, "tokenizer.ggml.merges": undefined })).toThrow(/merges/);
    expect(() => Tokenizer.fromGgufMetadata({ ...meta, "tokenizer.ggml.token_type": [1, 2] })).toThrow(/token_type/);
  });

  it("rejects ids outside the vocabulary with InvalidOptionError", () => {
    expect(() => tok.decode([tokens.length])).toThrow(InvalidOptionError);
    expect(() => tok.decode([-1])).toThrow(InvalidOptionError);
    expect(() => tok.tokenToPiece(1.5)).toThrow(InvalidOptionError);
  });
});

describe("SentencePiece BPE from GGUF metadata", () => {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  // Pieces and scores; higher scores merge first.
  const pieces: [string, number][] = [
    ["▁", -100],
    ["h", -101],
    ["e", -102],
    ["l", -103],
    ["o", -104],
    ["▁h", -1],
    ["ll", -2],
    ["▁he", -3],
    ["▁hell", -4],
    ["▁hello", -5],
    ["he", -10],
  ];
  const tokens = ["<unk>", "<s>", "</s>", ...bytes, ...pieces.map((p) => p[0])];
  const meta = {
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": tokens,
    "tokenizer.ggml.scores": [0, 0, 0, ...bytes.map(() => 0), ...pieces.map((p) => p[1])],
    "tokenizer.ggml.token_type": [2, 3, 3, ...bytes.map(() => TokenType.BYTE), ...pieces.map(() => TokenType.NORMAL)],
  };
  const tok = Tokenizer.fromGgufMetadata(meta);
  const id = (text: string) => tokens.indexOf(text);

  it("merges by score, adds BOS and the space prefix by default", () => {
    expect(tok.pieceEncoding).toBe("sentencepiece");
    expect(tok.encode("hello")).toEqual([1, id("▁hello")]);
    expect(tok.encode("hello hello", { addSpecial: false })).toEqual([id("▁hello"), id("▁hello")]);
  });

  it("falls back to byte tokens for characters outside the vocabulary", () => {
    // "▁h" then "i" (absent) as <0x69>; "€" as its three UTF-8 bytes.
    expect(tok.encode("hi€", { addSpecial: false })).toEqual([id("▁h"), id("<0x69>"), id("<0xE2>"), id("<0x82>"), id("<0xAC>")]);
  });

  it("puts the space prefix after special tokens too, as llama.cpp does", () => {
    expect(tok.encode("<s>hello", { addSpecial: false })).toEqual([1, id("▁hello")]);
  });

  it("decodes back to the input, dropping the added leading space", () => {
    for (const text of ["hello", " hello  hello ", "hi€ 😀", "ol\u00e9"]) {
      expect(tok.decode(tok.encode(text), { skipSpecial: true })).toBe(text);
    }
    expect(tok.decode(tok.encode("hello"))).toBe("<s>hello");
  });

  it("streams byte tokens into whole characters", () => {
    const stream = new TextStreamDecoder(tok, { skipSpecial: true });
    const out = tok.encode("h€").map((i) => stream.push(i));
    expect(out.join("") + stream.flush()).toBe("h€");
    expect(out).toContain("€");
  });

  it("honours add_space_prefix = false and add_bos_token = false", () => {
    const t = Tokenizer.fromGgufMetadata({
      ...meta,
      "tokenizer.ggml.add_space_prefix": false,
      "tokenizer.ggml.add_bos_token": false,
    });
    expect(t.encode("hello")).toEqual([id("he"), id("ll"), id("o")]);
    expect(t.decode(t.encode(" hello"))).toBe(" hello");
  });
});

describe("Tokenizer.fromTokenizerJson", () => {
  const chars = byteChars();
  const vocab: Record<string, number> = {};
  chars.forEach((c, i) => (vocab[c] = i));
  vocab["he"] = 256;
  vocab["ll"] = 257;
  vocab["hell"] = 258;
  vocab["hello"] = 259;
  const json = {
    version: "1.0",
    added_tokens: [
      { id: 260, content: "<|begin|>", special: true },
      { id: 261, content: "<|end|>", special: true },
      { id: 262, content: "<extra>", special: false },
    ],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<|begin|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [],
      special_tokens: { "<|begin|>": { id: "<|begin|>", ids: [260], tokens: ["<|begin|>"] } },
    },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      vocab,
      merges: ["h e", "l l", "he ll", "hell o"],
      ignore_merges: false,
    },
  };

  it("encodes with the json's model and the template's BOS", () => {
    const tok = Tokenizer.fromTokenizerJson(json);
    expect(tok.pieceEncoding).toBe("byte-level");
    expect(tok.bosId).toBe(260);
    expect(tok.encode("hello")).toEqual([260, 259]);
    expect(tok.encode("hello<|end|>", { addSpecial: false })).toEqual([259, 261]);
    expect(tok.encode("<extra>", { addSpecial: false, parseSpecial: false })).toEqual([262]);
    expect(tok.decode(tok.encode("hello wörld"), { skipSpecial: true })).toBe("hello wörld");
    expect(tok.eotIds.has(261)).toBe(true);
  });

  it("takes BOS/EOS and add_bos_token from tokenizer_config.json", () => {
    const tok = Tokenizer.fromTokenizerJson(json, { eos_token: { content: "<|end|>" }, add_bos_token: false });
    expect(tok.encode("hello")).toEqual([259]);
    expect(tok.eosId).toBe(261);
  });

  it("handles a SentencePiece-style json (Prepend/Replace normalizer, byte fallback)", () => {
    const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    const pieces = ["<unk>", "<s>", "</s>", ...bytes, "▁", "h", "i", "▁h", "▁hi"];
    const spmJson = {
      added_tokens: [
        { id: 0, content: "<unk>", special: true },
        { id: 1, content: "<s>", special: true },
        { id: 2, content: "</s>", special: true },
      ],
      normalizer: {
        type: "Sequence",
        normalizers: [
          { type: "Prepend", prepend: "▁" },
          { type: "Replace", pattern: { String: " " }, content: "▁" },
        ],
      },
      pre_tokenizer: null,
      post_processor: {
        type: "TemplateProcessing",
        single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
        pair: [],
        special_tokens: {},
      },
      decoder: { type: "Sequence", decoders: [{ type: "Replace", pattern: { String: "▁" }, content: " " }, { type: "ByteFallback" }] },
      model: {
        type: "BPE",
        vocab: Object.fromEntries(pieces.map((p, i) => [p, i])),
        merges: ["▁ h", "▁h i"],
        byte_fallback: true,
        unk_token: "<unk>",
        ignore_merges: false,
      },
    };
    const tok = Tokenizer.fromTokenizerJson(spmJson);
    const id = (p: string) => pieces.indexOf(p);
    expect(tok.pieceEncoding).toBe("sentencepiece");
    expect(tok.encode("hi hi")).toEqual([1, id("▁hi"), id("▁hi")]);
    expect(tok.encode("hé", { addSpecial: false })).toEqual([id("▁h"), id("<0xC3>"), id("<0xA9>")]);
    for (const text of ["hi hi", "hé", " spaced  out "]) {
      expect(tok.decode(tok.encode(text), { skipSpecial: true })).toBe(text);
    }
  });

  it("rejects a json without a model", () => {
    expect(() => Tokenizer.fromTokenizerJson({})).toThrow(ModelLoadError);
  });
});
