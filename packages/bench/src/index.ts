// @first/bench: the speed and trade-off benchmarks shared by `first bench` and benchmarks/.
export { measureRep, agreement, tokensPerSecond, type RepTiming, type FirstRep } from "./measure.js";
export { summarizeValues, round, roundSummary, type Summary } from "./stats.js";
export { loadLlamaCppPeer, type LlamaCppPeer, type LlamaCppContext, type LlamaCppParallelContext, type LlamaCppInfo } from "./llama-peer.js";
export { promptText, detokenizeWikitext, detokenizeWikitextParagraphs, type PromptText } from "./prompt-text.js";
export {
  runSpeedBench,
  describeModel,
  type SpeedBenchOptions,
  type SpeedBenchResult,
  type SpeedRow,
  type ModelDescription,
  type LayerChoice,
} from "./speed.js";
export { speedTable } from "./format.js";
export { runTradeoffBench, tradeoffTable, tradeoffPrompts, TRADEOFF_CONFIGS, type TradeoffBenchOptions, type TradeoffBenchResult, type TradeoffRow } from "./tradeoff.js";
