export { Sampler, argmax } from "./sampler.js";
export { validateSampling, SAMPLING_DEFAULTS, type SamplingOptions, type ResolvedSampling } from "./options.js";
