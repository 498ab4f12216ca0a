// Our engine's side of the speed benchmark, through the public API of @first/core.
import { performance } from "node:perf_hooks";
import { loadModel, type LoadedModel } from "@first/core";
import type { RepTiming } from "./rep.js";

export interface FirstRep {
  /** Measured by the caller, the same way as for llama.cpp: from generate() to the first token, then to the last. */
  wall: RepTiming;
  /** The engine's own figures (GenerationResult.timings), which leave out sampling and thread messaging in decode. */
  reported: RepTiming;
}

export class FirstBench {
  private constructor(readonly model: LoadedModel) {}

  static async open(modelPath: string, threads: number, contextLength: number): Promise<FirstBench> {
    const model = await loadModel(modelPath, { threads, contextLength, maxSequences: 1, pull: false });
    return new FirstBench(model);
  }

  get settings() {
    return { contextLength: this.model.engine.contextLength, threads: this.model.engine.threads, kernels: this.model.engine.kernels };
  }

  /** Token ids of `text` as our tokenizer makes them (BOS where the model asks for one; special tokens as plain text). */
  tokenize(text: string): number[] {
    return this.model.tokenizer.encode(text, { addSpecial: true, parseSpecial: false });
  }

  /** Greedy generation of decodeSteps + 1 tokens after `prompt` (a fresh sequence each time). */
  async rep(prompt: readonly number[], decodeSteps: number): Promise<FirstRep> {
    const t0 = performance.now();
    const generation = this.model.generate({ tokens: [...prompt] }, { temperature: 0, maxTokens: decodeSteps + 1 });
    const times: number[] = [];
    for await (const chunk of generation) if (chunk.token >= 0) times.push(performance.now());
    const result = await generation.result;
    // An end-of-text token ends generation early; it is evaluated by no one.
    const steps = result.finishReason === "length" ? result.tokens.length - 1 : result.tokens.length;
    const wallSteps = times.length - 1;
    return {
      wall: { prefillMs: times[0] - t0, decodeMs: times[wallSteps] - times[0], decodeSteps: wallSteps, tokens: result.tokens },
      reported: { prefillMs: result.timings.prefillMs, decodeMs: result.timings.decodeMs, decodeSteps: steps, tokens: result.tokens },
    };
  }

  async close(): Promise<void> {
    await this.model.close();
  }
}
