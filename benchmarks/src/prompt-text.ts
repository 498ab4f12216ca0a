// Benchmark prompt text comes from @first/bench (one copy, shared with `first bench`).
export { promptText, type PromptText } from "@first/bench";
