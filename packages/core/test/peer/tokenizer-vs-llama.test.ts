// Our tokenizer against llama.cpp's (through node-llama-cpp) on a few thousand lines of real text.
// Needs the default model (CI pulls it first; locally set FIRST_TEST_MODEL) and the shared datasets
// (found beside the repository, or at FIRST_DATA).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama, type Llama, LlamaLogLevel, type LlamaModel, type Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeGguf, type GgufWriteValue } from "../../src/gguf/writer.js";
import { modelsDir } from "../../src/paths.js";
import { readGguf } from "../../src/native.js";

const readGgufMetadata = (path: string) => readGguf(path).metadata;
import { TextStreamDecoder, Tokenizer } from "../../src/tokenizer/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));

function modelPath(): string {
  const p = process.env.FIRST_TEST_MODEL || path.join(modelsDir(), "SmolLM2-135M-Instruct.Q4_1.gguf");
  if (!existsSync(p)) {
    throw new Error(`Test model not found at ${p}. Run \`pnpm first pull\` first (or set FIRST_TEST_MODEL to a GGUF file).`);
  }
  return p;
}

/** shared/data: FIRST_DATA, else the first `shared/data` found walking up from this file. */
function dataRoot(): string {
  if (process.env.FIRST_DATA) return process.env.FIRST_DATA;
  for (let dir = here; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "shared", "data");
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) break;
  }
  throw new Error("Datasets not found: no shared/data beside the repository. Set FIRST_DATA to the datasets folder.");
}

const lines = (file: string) => readFileSync(file, "utf8").split("\n");
const jsonl = (file: string) =>
  lines(file)
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Records of a CSV file with quoted fields ("" escapes a quote), up to `limit`. */
function csvRecords(text: string, limit: number): string[][] {
  const records: string[][] = [];
  let field = "";
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length && records.length < limit; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") record.push(field), (field = "");
    else if (c === "\n") record.push(field), records.push(record), (record = []), (field = "");
    else field += c;
  }
  return records;
}

/** Hand-written strings for what datasets rarely contain: code, emoji, odd whitespace, digits, specials. */
const CRAFTED: string[] = [
  "",
  " ",
  "  ",
  "\n",
  "\n\n\n",
  "\t",
  " \t \n \r\n",
  "trailing spaces   ",
  "   leading spaces",
  "a  b   c    d     e",
  "line one\nline two\r\nline three\rline four",
  "0",
  "1234567890",
  "3.14159265358979 2,718 1e-10 -42 +7 0x1F 0b1010 1_000_000",
  "Phone: +1 (555) 123-4567, ZIP 90210, year 2024.",
  "١٢٣ ٤٥٦ ௧௨௩ ½ ¾ ² ³ Ⅻ",
  "😀😃😄😁 👍🏽 👨‍👩‍👧‍👦 🇩🇪 🏳️‍🌈",
  "emoji in text 🙂 and more 🚀🚀🚀!",
  "中文字符和日本語のテキスト、한국어 텍스트",
  "Ελληνικά, русский текст, עברית, العربية, हिन्दी, ไทย",
  "Ünïcödé àéîõü ÀÉÎÕÜ ñ ç ß ø å æ œ",
  "e\u0301 combining, n\u0303, a\u030a",
  "zero\u200bwidth\u200cjoiner\u200dtest\ufeffbom",
  "nbsp\u00a0here, thin\u2009space, ideographic\u3000space, nel\u0085line, ls\u2028ps\u2029",
  "control \u0001\u0002\u001f chars \u007f",
  "it's don't I'm we've they're you'll he'd IT'S DON'T I'M",
  "'s 't 're 've 'm 'll 'd",
  "quotes: “double” ‘single’ «guillemets» „low“",
  "dashes – — ‒ ― and ellipsis … and bullets • ◦",
  "math: ∑ ∫ √ ∞ ≠ ≤ ≥ ± × ÷ ∂ ∇ ∈ ∉ ⊂ ⊃",
  "currency: $5 €10 £20 ¥30 ₹40 ₿0.001",
  "URLs: https://example.com/path?query=1&other=two#frag mailto:a@b.co",
  "def f(x):\n    return x ** 2  # square\n\nprint(f(3))",
  "for (int i = 0; i < n; ++i) {\n\tsum += a[i] * b[i];\n}",
  'const x = { "key": [1, 2, 3], nested: { a: null } };',
  "<div class=\"a\"><p>Hello &amp; welcome</p></div>",
  "#!/bin/bash\nset -euo pipefail\necho \"$HOME\" | grep -E '^/' && exit 0",
  "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
  "    indented code\n        more indented\n            deepest",
  "Hello<|im_end|>",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
  "<|endoftext|><|endoftext|>",
  "text<|im_start|>more<|im_end|>end",
  "partial <|im_start and |im_end|> markers",
  "<repo_name>a<reponame>b<file_sep>c<filename>d<gh_stars>e",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "!!!!!!!!???????........,,,,,,;;;;;;::::::",
  "________________________________________",
  "=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=-=",
  " ".repeat(40) + "x",
  "x" + "\n".repeat(20) + "y",
  "Mixed CASE words: iPhone eBay McDonald's NASA's",
];

function corpus(): string[] {
  const root = dataRoot();
  const out: string[] = [];
  const take = <T>(items: T[], n: number) => items.slice(0, n);

  out.push(...take(lines(path.join(root, "wikitext2/test.txt")).filter((l) => l.trim() !== ""), 800));
  out.push(...take(lines(path.join(root, "tatoeba_laser/tatoeba.deu-eng.deu")), 300));
  out.push(...take(lines(path.join(root, "tatoeba_laser/tatoeba.deu-eng.eng")), 300));
  const gsm = jsonl(path.join(root, "gsm8k/test.jsonl"));
  out.push(...take(gsm, 300).map((r) => String(r.question)));
  out.push(...take(gsm, 100).map((r) => String(r.answer)));
  const tldr = jsonl(path.join(root, "scitldr/test.jsonl"));
  out.push(...take(tldr, 200).map((r) => (r.source as string[]).join(" ")));
  out.push(...take(tldr, 100).map((r) => (r.target as string[])[0] ?? ""));
  const cnn = csvRecords(readFileSync(path.join(root, "cnn_dailymail_val1000/cnn_dailymail_validation_subset.csv"), "utf8"), 101);
  out.push(...cnn.slice(1).flatMap((r) => [r[0], r[1]]));
  out.push(...take(lines(path.join(root, "wmt_ende_onmt_toy/tgt-test.txt")), 300));
  out.push(...take(lines(path.join(root, "wmt_ende_onmt_toy/src-test.txt")), 100));
  const instructions = jsonl(path.join(root, "self_instruct_eval/user_oriented_instructions.jsonl"));
  out.push(
    ...take(instructions, 150).flatMap((r) => {
      const inst = (r.instances as { input?: string; output?: string }[] | undefined)?.[0];
      return [String(r.instruction), inst?.input ?? "", inst?.output ?? ""];
    }),
  );
  // Code: this package's own sources, a line at a time and whole files.
  const srcDir = path.join(here, "../../src/tokenizer");
  for (const f of readdirSync(srcDir).filter((f) => f.endsWith(".ts"))) {
    const file = path.join(srcDir, f);
    if (!statSync(file).isFile()) continue;
    const text = readFileSync(file, "utf8");
    out.push(text, ...text.split("\n").slice(0, 40));
  }
  out.push(...CRAFTED);
  return out;
}

describe("tokenizer vs llama.cpp", () => {
  let llama: Llama;
  let peer: LlamaModel;
  let tokenizer: Tokenizer;
  let texts: string[];
  let scratch: string;

  beforeAll(async () => {
    const file = modelPath();
    texts = corpus();
    tokenizer = Tokenizer.fromGgufMetadata(readGgufMetadata(file));
    llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    peer = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    scratch = mkdtempSync(path.join(os.tmpdir(), "first-tok-"));
  });

  afterAll(async () => {
    await peer?.dispose();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  const peerIds = (model: LlamaModel, text: string, special = true) => Array.from(model.tokenize(text, special), Number);

  it("produces llama.cpp's ids on every line, and decodes back to the same text", () => {
    const mismatches: string[] = [];
    const roundTrip: string[] = [];
    let tokens = 0;
    for (const text of texts) {
      const ours = tokenizer.encode(text, { addSpecial: false });
      const theirs = peerIds(peer, text);
      tokens += ours.length;
      if (ours.length !== theirs.length || ours.some((id, i) => id !== theirs[i])) {
        mismatches.push(`${JSON.stringify(text.slice(0, 80))}: ours ${ours.slice(0, 20)} / llama.cpp ${theirs.slice(0, 20)}`);
      }
      if (tokenizer.decode(ours) !== text) roundTrip.push(JSON.stringify(text.slice(0, 80)));
    }
    console.log(`tokenizer vs llama.cpp: ${texts.length - mismatches.length}/${texts.length} texts identical (${tokens} tokens)`);
    expect(texts.length).toBeGreaterThan(3000);
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(roundTrip.slice(0, 10)).toEqual([]);
  });

  it("matches llama.cpp with special-token parsing off", () => {
    const sample = texts.filter((t) => t.includes("<|") || t.includes("<repo")).concat(texts.slice(0, 200));
    for (const text of sample) {
      expect(tokenizer.encode(text, { addSpecial: false, parseSpecial: false }), text).toEqual(peerIds(peer, text, false));
    }
  });

  it("has llama.cpp's end-of-generation tokens, BOS and EOS", () => {
    const eog: number[] = [];
    for (let id = 0; id < tokenizer.vocabSize; id++) if (peer.isEogToken(id as Token)) eog.push(id);
    expect([...tokenizer.eotIds].sort((a, b) => a - b)).toEqual(eog);
    expect(tokenizer.bosId).toBe(peer.tokens.bos ?? undefined);
    expect(tokenizer.eosId).toBe(peer.tokens.eos ?? undefined);
  });

  it("decodes single tokens and streams like llama.cpp's detokenizer", () => {
    const sample = texts.slice(0, 300).join("\n");
    const ids = tokenizer.encode(sample, { addSpecial: false });
    const stream = new TextStreamDecoder(tokenizer);
    let streamed = "";
    for (const id of ids) streamed += stream.push(id);
    streamed += stream.flush();
    expect(streamed).toBe(peer.detokenize(ids as Token[], true));
    expect(streamed).toBe(sample);
  });

  // The other vocabulary kinds, checked on vocabulary-only GGUF files that llama.cpp can load. (While
  // estimating memory, node-llama-cpp first tries these files as full models and logs "missing tensor";
  // the vocabulary-only load that follows succeeds.)
  const llamaArchKeys: [string, GgufWriteValue][] = [
    ["general.architecture", "llama"],
    ["general.name", "vocabulary only"],
    ["llama.block_count", { type: "u32", value: 1 }],
    ["llama.context_length", { type: "u32", value: 256 }],
    ["llama.embedding_length", { type: "u32", value: 64 }],
    ["llama.feed_forward_length", { type: "u32", value: 128 }],
    ["llama.attention.head_count", { type: "u32", value: 4 }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "f32", value: 1e-5 }],
  ];

  async function compareOnVocabFile(name: string, metadata: [string, GgufWriteValue][], sample: string[]) {
    const file = path.join(scratch, `${name}.gguf`);
    writeGguf(file, { version: 3, metadata: [...llamaArchKeys, ...metadata], tensors: [] });
    const ours = Tokenizer.fromGgufMetadata(readGgufMetadata(file));
    const model = await llama.loadModel({ modelPath: file, vocabOnly: true, gpuLayers: 0 });
    try {
      let same = 0;
      const mismatches: string[] = [];
      for (const text of sample) {
        for (const special of [true, false]) {
          const a = ours.encode(text, { addSpecial: false, parseSpecial: special });
          const b = peerIds(model, text, special);
          if (a.length === b.length && a.every((id, i) => id === b[i])) same++;
          else mismatches.push(`${JSON.stringify(text.slice(0, 60))} special=${special}: ${a.slice(0, 16)} / ${b.slice(0, 16)}`);
        }
      }
      console.log(`${name}: ${same}/${sample.length * 2} encodings identical to llama.cpp`);
      expect(mismatches.slice(0, 10)).toEqual([]);
      return ours;
    } finally {
      await model.dispose();
    }
  }

  /** The SmolLM2 vocabulary under another pre-tokenizer name. */
  function byteLevelVocab(pre: string): [string, GgufWriteValue][] {
    const meta = readGgufMetadata(modelPath());
    return [
      ["tokenizer.ggml.model", "gpt2"],
      ["tokenizer.ggml.pre", pre],
      ["tokenizer.ggml.tokens", { type: "array", elemType: "string", value: meta["tokenizer.ggml.tokens"] as string[] }],
      ["tokenizer.ggml.token_type", { type: "array", elemType: "i32", value: meta["tokenizer.ggml.token_type"] as number[] }],
      ["tokenizer.ggml.merges", { type: "array", elemType: "string", value: meta["tokenizer.ggml.merges"] as string[] }],
      ["tokenizer.ggml.bos_token_id", { type: "u32", value: 1 }],
      ["tokenizer.ggml.eos_token_id", { type: "u32", value: 2 }],
    ];
  }

  for (const pre of ["llama-bpe", "qwen2", "gpt-2", "default", "falcon", "gpt-4o", "tekken"]) {
    it(`byte-level BPE with tokenizer.ggml.pre = "${pre}" matches llama.cpp`, async () => {
      await compareOnVocabFile(`bpe-${pre}`, byteLevelVocab(pre), texts.filter((_, i) => i % 4 === 0));
    });
  }

  /**
   * A SentencePiece vocabulary (GGUF "llama" model) built from SmolLM2's: its pieces as UTF-8 text with
   * "▁" for spaces, scored by merge order, plus <0xNN> byte tokens, <unk>/<s>/</s> and a user-defined token.
   */
  function sentencePieceVocab(): [string, GgufWriteValue][] {
    const source = Tokenizer.fromGgufMetadata(readGgufMetadata(modelPath()));
    const tokens = ["<unk>", "<s>", "</s>"];
    const types = [2, 3, 3];
    for (let b = 0; b < 256; b++) {
      tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
      types.push(6);
    }
    tokens.push("<|user|>");
    types.push(4);
    const seen = new Set(tokens);
    const strict = new TextDecoder("utf-8", { fatal: true });
    for (let id = 0; id < 12000 && id < source.vocabSize; id++) {
      if (source.isSpecial(id)) continue;
      let text: string;
      try {
        text = strict.decode(source.pieceBytes(id, false, false));
      } catch {
        continue; // part of a multi-byte character: not a SentencePiece piece
      }
      if (text === "" || /[\t\n\r]/.test(text)) continue;
      const piece = text.replaceAll(" ", "▁");
      if (seen.has(piece)) continue;
      seen.add(piece);
      tokens.push(piece);
      types.push(1);
    }
    const scores = tokens.map((_, i) => (types[i] === 1 ? -i : 0));
    return [
      ["tokenizer.ggml.model", "llama"],
      ["tokenizer.ggml.tokens", { type: "array", elemType: "string", value: tokens }],
      ["tokenizer.ggml.scores", { type: "array", elemType: "f32", value: scores }],
      ["tokenizer.ggml.token_type", { type: "array", elemType: "i32", value: types }],
      ["tokenizer.ggml.bos_token_id", { type: "u32", value: 1 }],
      ["tokenizer.ggml.eos_token_id", { type: "u32", value: 2 }],
      ["tokenizer.ggml.unknown_token_id", { type: "u32", value: 0 }],
      ["tokenizer.ggml.add_bos_token", true],
    ];
  }

  it("SentencePiece BPE (llama model type) matches llama.cpp, with BOS and the space prefix", async () => {
    const sample = texts
      .filter((_, i) => i % 3 === 0)
      .concat(["<s>Hello</s>", "a<|user|>b", "<unk> and <s> inside", "x <|user|> y", "  two leading spaces"]);
    const spm = await compareOnVocabFile("spm", sentencePieceVocab(), sample);
    expect(spm.encode("Hi")[0]).toBe(1);
    expect(spm.pieceEncoding).toBe("sentencepiece");
    for (const text of sample.slice(0, 500)) {
      if (text.includes("<")) continue;
      expect(spm.decode(spm.encode(text), { skipSpecial: true })).toBe(text);
    }
  });
});
