// Our engine's side of the speed benchmark, through the public API of @first/core.
import { loadModel, type LoadedModel } from "@first/core";
import { measureRep, type FirstRep } from "@first/bench";

export type { FirstRep };

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

  /** Greedy generation of decodeSteps + 1 tokens after `prompt` (a fresh sequence each time), timed by @first/bench's measureRep. */
  rep(prompt: readonly number[], decodeSteps: number): Promise<FirstRep> {
    return measureRep(this.model, prompt, decodeSteps);
  }

  async close(): Promise<void> {
    await this.model.close();
  }
}
