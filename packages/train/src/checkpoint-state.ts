// Training checkpoints: DIR/checkpoint/ holds state.json (settings, step,
// data order, RNG state) and tensors.safetensors (routers, LoRA, AdamW
// moments), written together into a temp folder renamed into place, so an
// interruption leaves either the old checkpoint or the new one.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readSafetensors, writeSafetensors, type NamedTensor } from "@first/core";
import { TrainDataError } from "./data.js";

export const TRAIN_CHECKPOINT_FORMAT = "first-train-checkpoint";

export interface TrainCheckpoint<S> {
  state: S;
  tensors: Map<string, NamedTensor>;
}

export function saveTrainCheckpoint<S>(dir: string, state: S, tensors: Map<string, NamedTensor>): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeSafetensors(join(tmp, "tensors.safetensors"), tensors);
    writeFileSync(join(tmp, "state.json"), `${JSON.stringify({ format: TRAIN_CHECKPOINT_FORMAT, version: 1, ...state }, null, 1)}\n`);
    const old = `${dir}.old-${process.pid}`;
    if (existsSync(dir)) renameSync(dir, old);
    renameSync(tmp, dir);
    rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

export function loadTrainCheckpoint<S>(dir: string): TrainCheckpoint<S> {
  const statePath = join(dir, "state.json");
  if (!existsSync(statePath)) throw new TrainDataError(`cannot resume: ${statePath} does not exist`);
  const raw = JSON.parse(readFileSync(statePath, "utf8")) as { format?: string; version?: number } & S;
  if (raw.format !== TRAIN_CHECKPOINT_FORMAT || raw.version !== 1) throw new TrainDataError(`${statePath} is not a training checkpoint of this version`);
  return { state: raw, tensors: readSafetensors(join(dir, "tensors.safetensors")).tensors };
}
