/**
 * Chat messages -> prompt text, with the model's Jinja chat template (tokenizer.chat_template), rendered
 * by @huggingface/jinja. Models without a template get ChatML, the format most small instruct models use.
 */
import { Template } from "@huggingface/jinja";
import { InvalidOptionError, ModelLoadError } from "./errors.js";

export interface ChatMessage {
  role: string;
  content: string;
}

export interface RenderChatOptions {
  /** End with the header of an assistant turn, so the model continues as the assistant. Default true. */
  addGenerationPrompt?: boolean;
  /** Texts the template may insert as bos_token / eos_token. Default "". */
  bosToken?: string;
  eosToken?: string;
}

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const parsed = new Map<string, Template>();

function compile(source: string): Template {
  let template = parsed.get(source);
  if (!template) {
    try {
      template = new Template(source);
    } catch (cause) {
      throw new ModelLoadError(`The model's chat template cannot be parsed: ${(cause as Error).message}`, { cause });
    }
    parsed.set(source, template);
  }
  return template;
}

/** Renders `messages` with `template` (ChatML when it is undefined or empty). */
export function renderChat(
  template: string | undefined,
  messages: readonly ChatMessage[],
  options: RenderChatOptions = {},
): string {
  if (!Array.isArray(messages)) throw new InvalidOptionError("messages", "must be an array of { role, content }");
  messages.forEach((m, i) => {
    if (typeof m !== "object" || m === null || typeof m.role !== "string" || typeof m.content !== "string") {
      throw new InvalidOptionError("messages", `message ${i} must have string "role" and "content"`);
    }
  });
  const compiled = compile(template && template.trim() !== "" ? template : CHATML_TEMPLATE);
  try {
    return compiled.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: options.addGenerationPrompt ?? true,
      bos_token: options.bosToken ?? "",
      eos_token: options.eosToken ?? "",
    });
  } catch (err) {
    // A template that parsed fails at render time when the conversation breaks its assumptions (it calls
    // raise_exception, e.g. for roles out of order, or indexes a message that is not there).
    throw new InvalidOptionError("messages", `the chat template rejected them: ${(err as Error).message}`);
  }
}
