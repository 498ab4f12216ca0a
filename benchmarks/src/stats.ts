// Summaries of repeated measurements (mean, standard deviation, median, min, max), from @first/bench.
export { summarizeValues as summarize, round, roundSummary, type Summary } from "@first/bench";
