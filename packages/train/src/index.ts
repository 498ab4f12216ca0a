// @first/train: FiRST router and LoRA training.
export { trainRouters, type TrainRunOptions, type TrainRunResult } from "./session.js";
export { defaultTrainSettings, runTraining, readTrainLog, stageSteps, type TrainSettings, type TrainStage, type StepReport, type EvalReport, type TrainContext, type TrainResult } from "./run.js";
export type { TrainBackend, BackendSequence, LoraTensorInfo, LossWeighting } from "./backend.js";
export { BUDGET_SCOPES, type BudgetScope } from "./objective.js";
export { encodeExample, encodeExamples, fitPromptMessages, readJsonlExamples, codecForModel, codecForTokenizer, TrainDataError, type TrainExample, type TrainSequence, type TextCodec } from "./data.js";
export { mixExamples, MIX_SOURCES, MIX_TASKS, parseMixCounts, type MixCounts, type MixTask } from "./mix.js";
export { hasNativeTrainer, nativeBackendFactory } from "./native-backend.js";
export { distillExamples, type DistillOptions, type DistilledLine } from "./distill.js";
