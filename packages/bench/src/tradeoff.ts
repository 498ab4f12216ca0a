// The FiRST trade-off in one process: decode cost of the full model, the
// routers, the fixed ULS baseline at the routers' layer count, each with and
// without the LoRA adapter, configurations alternating rep by rep on the same
// raw-text prompts, at each thread count. Speeds are against the full model
// measured in the same run. One engine serves every configuration (the
// adapter is a named one that the +lora requests take), so all share weights,
// KV cache and memory layout: two engines differ by their creation order alone.
import { AbortedError, loadModel, type LoadedModel, type RouterSetData, type LayerPlanSpec } from "@first/core";
import { EndedAtOnceError, measureRep } from "./measure.js";
import { detokenizeWikitextParagraphs } from "./prompt-text.js";
import { round, summarizeValues, type Summary } from "./stats.js";

export interface TradeoffBenchOptions {
  modelPath: string;
  /** Router checkpoint folder. */
  routersDir: string;
  /** LoRA adapter folder (PEFT). */
  loraDir: string;
  threshold?: number;
  /** A per-request layer budget for the routers' rows (executed layers), instead of the threshold. */
  layerBudget?: number;
  threads: number[];
  /** Generations per configuration and thread count, one prompt each (default 10). */
  reps?: number;
  /** Greedy tokens per generation (default 96). */
  genTokens?: number;
  /** Prompt length in tokens (default 64). */
  promptTokens?: number;
  dataDir?: string;
  onProgress?: (message: string) => void;
  signal?: AbortSignal;
}

export const TRADEOFF_CONFIGS = ["full", "full+lora", "first", "first+lora", "uls", "uls+lora"] as const;
export type TradeoffConfig = (typeof TRADEOFF_CONFIGS)[number];

export interface TradeoffRow {
  config: string;
  threads: number;
  /** Mean executed decoder layers over the prompts. */
  executedLayers: number;
  /** Milliseconds per decoded token (wall clock, first to last token, sampling included). */
  msPerToken: Summary;
  /** Prefill milliseconds per prompt token (wall clock to the first token). */
  prefillMsPerToken: Summary;
  /** full's median ms/token over this row's (> 1: faster than the full model). */
  speedVsFull: number;
  prefillSpeedVsFull: number;
  /** Generations that ended before genTokens (an end-of-text token). */
  endedEarly: number;
}

export interface TradeoffBenchResult {
  threads: number[];
  reps: number;
  genTokens: number;
  promptTokens: number;
  promptSource: string;
  /** Indices of the prompts left out because a configuration ended them at its first token (spares took their place). */
  droppedPrompts: number[];
  /** k of the uls rows: the routers' mean skipped layers with the adapter, rounded. */
  ulsK: number;
  threshold: number | null;
  layerBudget: number | null;
  rows: TradeoffRow[];
  /**
   * Decode and prefill cost of the adapter: ms with / ms without, per pair and thread count.
   * sameLayers: both sides ran the same mean number of layers (always for full and uls; for
   * first only when the adapter does not move the routers' decisions, or under a layer budget).
   */
  adapterOverhead: { threads: number; pair: string; decode: number; prefill: number; sameLayers: boolean }[];
}

/** Prompts held in reserve for those a configuration ends at once. */
const SPARE_PROMPTS = 10;

/**
 * Raw-text prompts of exactly `tokens` tokens each (WikiText-2 paragraphs, or a
 * fixed text): `count` of them, and up to `spare` more where the text has them.
 */
export function tradeoffPrompts(
  model: LoadedModel,
  count: number,
  tokens: number,
  dataDir?: string,
  spare = 0,
): { prompts: number[][]; source: string } {
  const { paragraphs, source } = detokenizeWikitextParagraphs(dataDir);
  const prompts: number[][] = [];
  for (const p of paragraphs) {
    const ids = model.tokenizer.encode(p, { addSpecial: true, parseSpecial: false });
    if (ids.length >= tokens) prompts.push(ids.slice(0, tokens));
    if (prompts.length === count + spare) break;
  }
  if (prompts.length < count) throw new Error(`only ${prompts.length} prompts of ${tokens} tokens found in ${source}`);
  return { prompts, source };
}

export async function runTradeoffBench(o: TradeoffBenchOptions): Promise<TradeoffBenchResult> {
  const reps = o.reps ?? 10, genTokens = o.genTokens ?? 96, promptTokens = o.promptTokens ?? 64;
  const rows: TradeoffRow[] = [];
  const overhead: TradeoffBenchResult["adapterOverhead"] = [];
  let ulsK = -1;
  const dropped = new Set<number>();
  let promptSource = "";
  let threshold: number | null = null;
  for (const threads of o.threads) {
    const model = await loadModel(o.modelPath, { threads, maxSequences: 1, pull: false, adapters: { lora: o.loraDir } });
    try {
      const routers = await model.loadRouters(o.routersDir);
      threshold = o.layerBudget === undefined ? (o.threshold ?? routers.config.threshold) : null;
      // Spare prompts replace any that a configuration ends at once (its first
      // token the end of text), so that every rep times every configuration.
      const { prompts, source } = tradeoffPrompts(model, reps, promptTokens, o.dataDir, SPARE_PROMPTS);
      promptSource = source;
      // The threshold is named even when it is the checkpoint's: routers alone
      // would otherwise take the checkpoint's budget without an adapter.
      const routed = { routers, threshold: threshold ?? undefined, layerBudget: o.layerBudget };
      const lora = { adapter: "lora" };
      if (ulsK < 0) ulsK = await meanSkipped(model, prompts.slice(0, reps), { ...routed, ...lora });
      const uls: LayerPlanSpec = ulsK > 0 ? await model.planFor(`uls:${ulsK}`) : { kind: "full" };
      const configs: { name: TradeoffConfig; layers: Layers }[] = [
        { name: "full", layers: {} },
        { name: "full+lora", layers: lora },
        { name: "first", layers: routed },
        { name: "first+lora", layers: { ...routed, ...lora } },
        { name: "uls", layers: { plan: uls } },
        { name: "uls+lora", layers: { plan: uls, ...lora } },
      ];
      const decode = new Map<string, number[]>(), prefill = new Map<string, number[]>(), executed = new Map<string, number[]>();
      // Prompts a configuration ended at once at this thread count: not tried again.
      const droppedHere = new Set<number>();
      // One rep: every configuration on the same prompt; a prompt that one of
      // them ends at once is dropped for all, and the next spare one taken.
      const timeAll = async (order: typeof configs, steps: number, nextPrompt: () => number) => {
        for (;;) {
          const i = nextPrompt();
          try {
            const out = [];
            for (const c of order) out.push({ c, r: await measureRep(model, prompts[i], steps, c.layers), prompt: prompts[i] });
            return out;
          } catch (e) {
            if (!(e instanceof EndedAtOnceError)) throw e;
            dropped.add(i);
            droppedHere.add(i);
          }
        }
      };
      const early = new Map<string, number>();
      // Indices of the prompts in order, each handed out once, skipping those already dropped.
      const promptsFrom = (start: number) => {
        let next = start;
        return () => {
          while (droppedHere.has(next)) next++;
          if (next >= prompts.length)
            throw new Error(`only ${prompts.length - droppedHere.size} of ${prompts.length} prompts give every configuration a token to time`);
          return next++;
        };
      };
      await timeAll(configs, 4, promptsFrom(0)); // warm-up
      const nextPrompt = promptsFrom(0);
      for (let rep = 0; rep < reps; rep++) {
        if (o.signal?.aborted) throw new AbortedError();
        // Alternate the order so drift in machine load spreads over all configurations.
        const order = rep % 2 === 0 ? configs : [...configs].reverse();
        const timed = await timeAll(order, genTokens - 1, nextPrompt);
        for (const { c, r, prompt } of timed) {
          push(decode, c.name, r.wall.decodeMs / Math.max(1, r.wall.decodeSteps));
          push(prefill, c.name, r.wall.prefillMs / prompt.length);
          push(executed, c.name, r.executedLayers);
          if (r.wall.decodeSteps < genTokens - 1) early.set(c.name, (early.get(c.name) ?? 0) + 1);
        }
        o.onProgress?.(`threads ${threads}: rep ${rep + 1}/${reps}`);
      }
      const med = (name: string, m: Map<string, number[]>) => summarizeValues(m.get(name)!).median;
      for (const c of configs) {
        rows.push({
          config: c.name === "uls" || c.name === "uls+lora" ? c.name.replace("uls", `uls:${ulsK}`) : c.name,
          threads,
          executedLayers: round(mean(executed.get(c.name)!), 2),
          msPerToken: roundAll(summarizeValues(decode.get(c.name)!)),
          prefillMsPerToken: roundAll(summarizeValues(prefill.get(c.name)!)),
          speedVsFull: round(med("full", decode) / med(c.name, decode)),
          prefillSpeedVsFull: round(med("full", prefill) / med(c.name, prefill)),
          endedEarly: early.get(c.name) ?? 0,
        });
      }
      for (const [without, withLora] of [["full", "full+lora"], ["first", "first+lora"], ["uls", "uls+lora"]] as const) {
        overhead.push({
          threads,
          pair: `${withLora} vs ${without}`,
          decode: round(med(withLora, decode) / med(without, decode)),
          prefill: round(med(withLora, prefill) / med(without, prefill)),
          sameLayers: Math.abs(mean(executed.get(withLora)!) - mean(executed.get(without)!)) < 1e-9,
        });
      }
    } finally {
      await model.close();
    }
  }
  return {
    threads: o.threads,
    reps,
    genTokens,
    promptTokens,
    promptSource,
    droppedPrompts: [...dropped].sort((a, b) => a - b),
    ulsK,
    threshold,
    layerBudget: o.layerBudget ?? null,
    rows,
    adapterOverhead: overhead,
  };
}

type Layers = { plan?: LayerPlanSpec; routers?: RouterSetData; threshold?: number; layerBudget?: number; adapter?: string };

async function meanSkipped(model: LoadedModel, prompts: number[][], layers: Layers): Promise<number> {
  let skipped = 0;
  for (const p of prompts) {
    const r = await model.generate({ tokens: p }, { ...layers, temperature: 0, maxTokens: 1 }).result;
    skipped += r.skippedLayers.length;
  }
  return Math.round(skipped / prompts.length);
}

function push(m: Map<string, number[]>, k: string, v: number): void {
  m.set(k, [...(m.get(k) ?? []), v]);
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

function roundAll(s: Summary): Summary {
  const r = (v: number) => round(v, 4);
  return { mean: r(s.mean), stdev: r(s.stdev), median: r(s.median), min: r(s.min), max: r(s.max), values: s.values.map(r) };
}

/** A markdown table of the rows: ms/token median and speed against the full model. */
export function tradeoffTable(result: TradeoffBenchResult): string {
  const lines = [
    "| configuration | threads | layers | ms/token | speed vs full | prefill ms/token | prefill vs full |",
    "|:--|--:|--:|--:|--:|--:|--:|",
  ];
  for (const r of result.rows)
    lines.push(
      `| ${r.config} | ${r.threads} | ${r.executedLayers.toFixed(1)} | ${r.msPerToken.median.toFixed(2)} | ${r.speedVsFull.toFixed(2)}x | ` +
        `${r.prefillMsPerToken.median.toFixed(3)} | ${r.prefillSpeedVsFull.toFixed(2)}x |`,
    );
  return lines.join("\n") + "\n";
}
