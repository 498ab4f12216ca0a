// Benchmark prompt text comes from @first/core (one copy, shared with `first bench`).
export { promptText, type PromptText } from "@first/core";
