// @first/eval: tasks over the shared datasets, metrics, the runner, and comparisons of FiRST with the full model and baselines (tables and figures).
export * from "./types.js";
export { evaluate, summarize, readRecords, resolveTask, EXAMPLES_FILE, SUMMARY_FILE } from "./runner.js";
export { TASKS, getTask, MC_SETS } from "./tasks/index.js";
export { adversarialQa, cnnDailymail, gsm8k, scitldr, t0Mix, wmtEnde } from "./tasks/index.js";
export { dataFileTask } from "./data-file.js";
export { checkpointIdentity, claimRunFolder, RUN_SETTINGS_FILE } from "./run-folder.js";
export { METRICS, GENERATION_METRICS, scoreOutput, aggregate } from "./metrics/index.js";
export { rougeScores, rougeTokens } from "./metrics/rouge.js";
export { corpusBleu, bleuStats, bleuFromStats, tokenize13a } from "./metrics/bleu.js";
export { corpusChrf, chrfStats, chrfFromStats } from "./metrics/chrf.js";
export { squadScores, normalizeAnswer, exactMatch, tokenF1 } from "./metrics/squad.js";
export { numericScores, lastNumber, gsm8kAnswer } from "./metrics/numeric.js";
export { choiceScores } from "./metrics/loglik.js";
export { perplexityWindows, perplexityFromScores } from "./metrics/perplexity.js";
export { lastWordScores, lambadaFromScores } from "./metrics/lambada.js";
export * from "./compare/index.js";
export * from "./plot/index.js";
