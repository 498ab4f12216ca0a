// Each task loader reads its dataset folder and yields well-formed examples
// with the split the data README prescribes.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { dataFileTask } from "../src/data-file.js";
import { parseCsv } from "../src/tasks/files.js";
import { getTask, TASKS } from "../src/tasks/index.js";
import { detokenizeMoses } from "../src/tasks/wmt-ende.js";
import type { EvalExample } from "../src/types.js";
import { dataRoot } from "../../core/test/support/engine.js";

const dir = dataRoot();

function wellFormed(e: EvalExample): void {
  expect(typeof e.id).toBe("string");
  if (e.kind === "generate") {
    expect(e.references.length).toBeGreaterThan(0);
    expect(e.references.every((r) => typeof r === "string" && r.length > 0)).toBe(true);
    const text = typeof e.prompt === "string" ? e.prompt : e.prompt.map((m) => m.content).join("");
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain("<|endoftext|>");
  } else if (e.kind === "choice") {
    expect(e.choices.length).toBeGreaterThanOrEqual(2);
    expect(e.gold).toBeGreaterThanOrEqual(0);
    expect(e.gold).toBeLessThan(e.choices.length);
    for (const c of e.choices) expect(c.context.length > 0 && c.continuation.trim().length > 0).toBe(true);
  } else if (e.kind === "lastword") {
    expect(e.target).toMatch(/^ \S+$/);
  } else {
    expect(e.text.length).toBeGreaterThan(100);
  }
}

const EVAL_COUNTS: Record<string, number> = {
  cnn_dailymail_val1000: 500,
  scitldr: 618,
  wmt_ende_onmt_toy: 2737,
  tatoeba_laser: 1000,
  gsm8k: 1319,
  adversarial_qa_t0: 200,
  nq_openbook_short: 824,
  triviaqa_sm_sub: 3000,
  llm_foundry_mc: 1172 + 2376 + 1838 + 3270 + 100 + 500 + 1221 + 1954 + 1267,
  hellaswag: 10042,
  lambada_openai: 5153,
  self_instruct_eval: 252,
  t0_mix: 2700,
};
const TRAIN_COUNTS: Record<string, number> = {
  cnn_dailymail_val1000: 500,
  scitldr: 1992,
  wmt_ende_onmt_toy: 10000,
  gsm8k: 7473,
  adversarial_qa_t0: 400,
  t0_mix: 8250,
};

describe("task loaders", () => {
  for (const task of TASKS) {
    it(`${task.name}: eval split and train split`, () => {
      const ex = task.evalExamples(dir);
      if (EVAL_COUNTS[task.name] !== undefined) expect(ex.length).toBeLessThanOrEqual(EVAL_COUNTS[task.name]);
      expect(ex.length).toBeGreaterThan(EVAL_COUNTS[task.name] === undefined ? 10 : EVAL_COUNTS[task.name] * 0.98);
      for (const e of ex.slice(0, 5)) {
        expect(e.kind).toBe(task.kind);
        wellFormed(e);
      }
      expect(new Set(ex.map((e) => e.id)).size).toBe(ex.length);
      if (TRAIN_COUNTS[task.name] !== undefined) {
        const train = task.trainExamples(dir);
        expect(train.length).toBeGreaterThan(TRAIN_COUNTS[task.name] * 0.98);
        const evalIds = new Set(ex.map((e) => e.id));
        if (task.name !== "wmt_ende_onmt_toy" && task.name !== "gsm8k") expect(train.some((e) => evalIds.has(e.id))).toBe(false);
      } else if (task.name !== "wikitext2") {
        expect(() => task.trainExamples(dir)).toThrow(/cannot be used for training/);
      }
    });
  }

  it("splits follow the data README", () => {
    const cnnEval = getTask("cnn_dailymail_val1000").evalExamples(dir);
    const cnnTrain = getTask("cnn_dailymail_val1000").trainExamples(dir);
    expect(cnnEval.length + cnnTrain.length).toBe(1000);
    expect(getTask("adversarial_qa_t0").evalExamples(dir).every((e) => e.id.startsWith("droberta/"))).toBe(true);
    expect(getTask("adversarial_qa_t0").trainExamples(dir).some((e) => e.id.startsWith("droberta/"))).toBe(false);
    const wiki = getTask("wikitext2");
    expect(wiki.evalExamples(dir)[0].kind === "perplexity" && (wiki.evalExamples(dir)[0] as { text: string }).text).toMatch(/^= Robert <unk> =/);
    expect(() => getTask("self_instruct_eval").trainExamples(dir)).toThrow(/evaluation only/);
  });

  it("multiple choice: sets interleaved, delimiters, WinoGrande contexts, single sets", () => {
    const ex = getTask("llm_foundry_mc").evalExamples(dir);
    expect(ex.slice(0, 9).map((e) => e.id.split("/")[0])).toEqual([
      "arc_easy", "arc_challenge", "piqa", "boolq", "copa", "openbook_qa", "commonsense_qa", "siqa", "winogrande",
    ]);
    const boolq = ex[3];
    expect(boolq.kind === "choice" && boolq.choices.map((c) => c.continuation)).toEqual([" no", " yes"]);
    expect(boolq.kind === "choice" && boolq.choices[0].context.endsWith("\nAnswer:")).toBe(true);
    const wino = ex[8];
    expect(wino.kind === "choice" && wino.choices[0].context !== wino.choices[1].context).toBe(true);
    expect(getTask("llm_foundry_mc:copa").evalExamples(dir)).toHaveLength(100);
    expect(() => getTask("llm_foundry_mc:nope")).toThrow(/arc_easy/);
    expect(() => getTask("nope")).toThrow(/tasks: cnn_dailymail_val1000, scitldr/);
  });

  it("Moses detokenization and CSV quoting", () => {
    expect(detokenizeMoses("However , in an interview , Bloom has said that he &apos;s &quot; happy &quot; .")).toBe(
      'However, in an interview, Bloom has said that he\'s "happy".',
    );
    expect(detokenizeMoses("a @-@ b ( c ) 5 % , don &apos;t")).toBe("a-b (c) 5%, don't");
    expect(parseCsv('a,b\n"x, ""y""\nz",2\r\n3,4\n')).toEqual([{ a: 'x, "y"\nz', b: "2" }, { a: "3", b: "4" }]);
  });

  it("generic JSONL data: prompts, chat messages, choices, text; metric checks", () => {
    const tmp = mkdtempSync(join(tmpdir(), "first-eval-data-"));
    try {
      const f = join(tmp, "d.jsonl");
      writeFileSync(f, '{"prompt":"2+2=","reference":"4"}\n{"id":"x","messages":[{"role":"user","content":"hi"}],"reference":["a","b"]}\n');
      const t = dataFileTask(f, "squad");
      expect(t.evalExamples("")).toEqual([
        { kind: "generate", id: "0", prompt: "2+2=", references: ["4"] },
        { kind: "generate", id: "x", prompt: [{ role: "user", content: "hi" }], references: ["a", "b"] },
      ]);
      expect(dataFileTask(f).metrics).toEqual(["rouge"]);
      expect(() => dataFileTask(f, "loglik")).toThrow(/does not fit/);
      writeFileSync(f, '{"query":"Sky is","choices":["blue","green"],"gold":0}\n');
      expect(dataFileTask(f).metrics).toEqual(["loglik"]);
      expect(dataFileTask(f).evalExamples("")[0]).toMatchObject({ kind: "choice", choices: [{ context: "Sky is", continuation: " blue" }, { continuation: " green" }] });
      writeFileSync(f, '{"prompt":"no reference"}\n');
      expect(() => dataFileTask(f)).toThrow(/reference/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
