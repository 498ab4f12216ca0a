// Training data -> token sequences: loss only on responses / assistant turns,
// prompt lengths as inference sees them, truncation of the prompt only, and
// the mix built from the datasets' train splits.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyLlama } from "../../core/src/gguf/tiny-model.js";
import { codecForModel, encodeExample, readJsonlExamples, type TextCodec } from "../src/data.js";
import { mixExamples, parseMixCounts } from "../src/mix.js";
import { dataRoot } from "../../core/test/support/engine.js";
import { t0MixRows } from "../../eval/src/tasks/t0-mix.js";

let dir: string;
let codec: TextCodec;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "first-train-data-"));
  makeTinyLlama(join(dir, "tiny.gguf"), { layers: 2 });
  codec = codecForModel(join(dir, "tiny.gguf"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lossText = (s: { tokens: Int32Array; targets: Int32Array }) => codec.decode([...s.targets].filter((t) => t >= 0));

describe("training data", () => {
  it("prompt/response: loss on the response and end-of-text only", () => {
    const s = encodeExample(codec, { prompt: "hello world", response: " and the rest" }, 256)!;
    expect(codec.decode([...s.tokens.slice(0, s.promptLength)])).toBe("hello world");
    expect(lossText(s)).toBe(" and the rest<|im_end|>"); // the tiny model's end-of-text token
    expect(s.targets.at(-1)).toBe(-1);
    expect(s.targets[s.promptLength - 1]).toBe(s.tokens[s.promptLength]);
  });

  it("chat: loss on each assistant turn; the prompt ends with the first assistant header", () => {
    const messages = [
      { role: "user", content: "hi" },
      { role: "assistant", content: "hello" },
      { role: "user", content: "and?" },
      { role: "assistant", content: "world" },
    ];
    const s = encodeExample(codec, { messages }, 256)!;
    expect(codec.decode([...s.tokens])).toBe(codec.render(messages, false));
    expect(codec.decode([...s.tokens.slice(0, s.promptLength)])).toBe(codec.render(messages.slice(0, 1), true));
    const spans: string[] = [];
    let cur: number[] = [];
    s.targets.forEach((t) => {
      if (t >= 0) cur.push(t);
      else if (cur.length) {
        spans.push(codec.decode(cur));
        cur = [];
      }
    });
    if (cur.length) spans.push(codec.decode(cur));
    expect(spans).toEqual(["hello<|im_end|>\n", "world<|im_end|>\n"]);
  });

  it("a long prompt is cut in its middle to fit; a response that cannot fit drops the example", () => {
    const long = `Instruction first. ${"the cat sat on a mat ".repeat(60)}Question last?`;
    const s = encodeExample(codec, { messages: [{ role: "user", content: long }, { role: "assistant", content: "an answer" }] }, 96)!;
    expect(s.tokens.length).toBeLessThanOrEqual(96);
    const text = codec.decode([...s.tokens]);
    expect(text).toContain("Instruction first.");
    expect(text).toContain("Question last?");
    expect(lossText(s)).toBe("an answer<|im_end|>\n");
    expect(encodeExample(codec, { prompt: "short", response: "word ".repeat(200) }, 64)).toBeNull();
  });

  it("reads JSONL and names the line of a bad record", () => {
    const file = join(dir, "d.jsonl");
    writeFileSync(file, `{"prompt":"a","response":"b"}\n{"messages":[{"role":"user","content":"x"},{"role":"assistant","content":"y"}]}\n`);
    expect(readJsonlExamples(file)).toHaveLength(2);
    writeFileSync(file, `{"prompt":"a","response":"b"}\n{"text":"no"}\n`);
    expect(() => readJsonlExamples(file)).toThrow(/d.jsonl:2/);
  });

  it.skipIf(!existsSync(join(dataRoot(), "gsm8k")))("the mix draws from every task's train split, seeded", () => {
    const a = mixExamples(dataRoot(), { perTask: 10, seed: 1 });
    const b = mixExamples(dataRoot(), { perTask: 10, seed: 1 });
    expect(a).toHaveLength(40); // 4 tasks; summarization takes 5 from each of its 2 sources
    expect(a).toEqual(b);
    const users = a.map((e) => ("messages" in e ? e.messages[0].content : ""));
    expect(users.some((u) => u.includes("German"))).toBe(true);
    expect(users.some((u) => u.includes("step by step"))).toBe(true);
    expect(a.every((e) => "messages" in e && e.messages.at(-1)!.role === "assistant" && !e.messages.at(-1)!.content.includes("<<"))).toBe(true);
  });

  it("mix counts: per-task counts replace perTask, and a larger count extends a smaller one's subset", () => {
    const userOf = (e: (typeof base)[number]) => ("messages" in e ? e.messages[0].content : "");
    const isTranslation = (u: string) => u.startsWith("Translate this English sentence into German");
    const base = mixExamples(dataRoot(), { perTask: 4, seed: 2 });
    const more = mixExamples(dataRoot(), { perTask: 4, counts: { translation: 9, math: 0 }, seed: 2 });
    expect(more.filter((e) => isTranslation(userOf(e)))).toHaveLength(9);
    expect(more.some((e) => userOf(e).includes("step by step"))).toBe(false);
    expect(more).toHaveLength(4 + 9 + 4); // summarization 2 + 2, translation 9, qa 4, math 0
    const moreUsers = new Set(more.map(userOf));
    expect(base.filter((e) => isTranslation(userOf(e))).every((e) => moreUsers.has(userOf(e)))).toBe(true);
    // The instruction mix (t0_mix's train split) is taken only when asked for.
    const t0Train = new Set(t0MixRows(dataRoot(), "train").map((r) => r.prompt.trim()));
    const t0Eval = new Set(t0MixRows(dataRoot(), "eval").map((r) => r.prompt.trim()));
    expect(base.some((e) => t0Train.has(userOf(e)))).toBe(false);
    const withT0 = mixExamples(dataRoot(), { perTask: 4, counts: { instructions: 12 }, seed: 2 });
    expect(withT0.filter((e) => t0Train.has(userOf(e)))).toHaveLength(12);
    expect(withT0.some((e) => t0Eval.has(userOf(e)) && !t0Train.has(userOf(e)))).toBe(false);
    expect(parseMixCounts("translation=600, qa=100")).toEqual({ translation: 600, qa: 100 });
    expect(() => parseMixCounts("poetry=3")).toThrow(/unknown mix task "poetry"/);
    expect(() => parseMixCounts("qa:3")).toThrow(/task=count/);
  });
});
