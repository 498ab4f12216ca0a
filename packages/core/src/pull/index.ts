export { pullModel, resolveModelPath, type PullOptions, type PullResult, type ResolveOptions } from "./pull.js";
export { DEFAULT_MODEL_ALIAS, knownModels, findKnownModel, describeSource, type KnownModel, type ModelSource } from "./known-models.js";
export { downloadFile, type DownloadOptions, type DownloadResult } from "./download.js";
export { parseHfSource, hfUrl, type HfFile } from "./hf.js";
export { sha256File } from "./files.js";
export type { PullProgress, PullProgressListener } from "./progress.js";
export { checkpointSha256, isCheckpointDir, pullHfCheckpoint } from "./hf-checkpoint.js";
