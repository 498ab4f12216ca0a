// Finished policies of a comparison, one JSON line each in summaries.jsonl,
// appended as soon as a policy is done, so that a rerun skips them.
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import type { EvalSummary } from "../types.js";

export interface FinishedPolicy {
  task: string;
  policy: string;
  threshold?: number;
  /** What else must match for a finished line to be reused (model, limit, generation cap...). */
  settings: Record<string, unknown>;
  summary: EvalSummary;
}

const keyOf = (task: string, policy: string, settings: Record<string, unknown>) => JSON.stringify([task, policy, settings]);

export class SummaryStore {
  private readonly done = new Map<string, FinishedPolicy>();

  constructor(readonly file: string) {
    if (!existsSync(file)) return;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      if (line.trim() === "") continue;
      try {
        const f = JSON.parse(line) as FinishedPolicy;
        if (f && typeof f.task === "string" && typeof f.policy === "string" && f.summary) this.done.set(keyOf(f.task, f.policy, f.settings ?? {}), f);
      } catch {
        // a line torn by an interrupted write: that policy runs again
      }
    }
  }

  get(task: string, policy: string, settings: Record<string, unknown>): FinishedPolicy | undefined {
    return this.done.get(keyOf(task, policy, settings));
  }

  add(f: FinishedPolicy): void {
    mkdirSync(dirname(this.file), { recursive: true });
    appendFileSync(this.file, `${JSON.stringify(f)}\n`);
    this.done.set(keyOf(f.task, f.policy, f.settings), f);
  }
}
