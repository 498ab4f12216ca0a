// What one repetition of the speed benchmark measures, for either engine:
// the measuring code lives in @first/bench (shared with `first bench`).
export { tokensPerSecond, type RepTiming } from "@first/bench";
