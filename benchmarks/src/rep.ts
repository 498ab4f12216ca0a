// What one repetition of the speed benchmark measures, for either engine:
// the measuring code lives in @first/core (shared with `first bench`).
export { tokensPerSecond, type RepTiming } from "@first/core";
