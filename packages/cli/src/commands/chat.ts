// `first chat`: an interactive conversation using the model's chat template.
import { createInterface } from "node:readline/promises";
import type { ChatMessage } from "@first/core";
import { defineCommand } from "../command.js";
import { applyLayerFlags, resolveFirstFlag, generateOptions, layerFlags, modelFlags, openModel, samplingFlags } from "./generation-flags.js";

export const chatCommand = defineCommand({
  name: "chat",
  summary: "Chat with a model interactively",
  description: "Type a message and press Enter. Commands: /reset starts over, /exit (or Ctrl-D) quits. Ctrl-C stops a reply.",
  flags: {
    ...modelFlags,
    system: { type: "string", help: "system message", valueName: "text" },
    ...layerFlags,
    ...samplingFlags,
  },
  async run({ flags }) {
    flags = await resolveFirstFlag(flags);
    const model = await openModel(flags);
    const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
    const start: ChatMessage[] = flags.system ? [{ role: "system", content: flags.system }] : [];
    let messages = [...start];
    let reply: AbortController | null = null;
    rl.on("SIGINT", () => (reply ? reply.abort() : rl.close()));
    try {
      for (;;) {
        let line: string;
        try {
          line = await rl.question("> ");
        } catch {
          break; // input closed
        }
        const text = line.trim();
        if (text === "/exit") break;
        if (text === "/reset") {
          messages = [...start];
          continue;
        }
        if (text.length === 0) continue;
        messages.push({ role: "user", content: text });
        reply = new AbortController();
        const gen = model.generate(messages, await applyLayerFlags(model, flags, generateOptions(flags, reply.signal)));
        let answer = "";
        try {
          for await (const chunk of gen) {
            answer += chunk.text;
            process.stdout.write(chunk.text);
          }
        } catch (err) {
          if (!reply.signal.aborted) throw err;
        }
        process.stdout.write("\n");
        messages.push({ role: "assistant", content: answer });
        reply = null;
      }
      return 0;
    } finally {
      rl.close();
      await model.close();
    }
  },
});
