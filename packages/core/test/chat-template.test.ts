import { describe, expect, it } from "vitest";
import { CHATML_TEMPLATE, renderChat } from "../src/chat-template.js";
import { InvalidOptionError, ModelLoadError } from "../src/errors.js";

// tokenizer.chat_template of SmolLM2-135M-Instruct, as stored in its GGUF file.
const SMOLLM2_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
  "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}" +
  "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

describe("renderChat", () => {
  it("renders SmolLM2's template with its default system prompt", () => {
    const text = renderChat(SMOLLM2_TEMPLATE, [{ role: "user", content: "What is 2+2?" }], { addGenerationPrompt: true });
    expect(text).toBe(
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n" +
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
        "<|im_start|>assistant\n",
    );
  });

  it("keeps a given system message and a multi-turn history", () => {
    const text = renderChat(
      SMOLLM2_TEMPLATE,
      [
        { role: "system", content: "Be brief." },
        { role: "user", content: "Hi" },
        { role: "assistant", content: "Hello!" },
        { role: "user", content: "Bye" },
      ],
      { addGenerationPrompt: false },
    );
    expect(text).toBe(
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n" +
        "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n",
    );
  });

  it("uses ChatML when the model has no template", () => {
    const messages = [{ role: "user", content: "Hi" }];
    expect(renderChat(undefined, messages)).toBe("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    expect(renderChat("", messages)).toBe(renderChat(CHATML_TEMPLATE, messages));
  });

  it("passes bos_token and eos_token to the template", () => {
    const template = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content }}{{ eos_token }}{% endfor %}";
    expect(renderChat(template, [{ role: "user", content: "x" }], { bosToken: "<s>", eosToken: "</s>" })).toBe(
      "<s>[user] x</s>",
    );
  });

  it("reports raise_exception from the template as InvalidOptionError", () => {
    const strict = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be from the user') }}{% endif %}ok";
    expect(() => renderChat(strict, [{ role: "assistant", content: "x" }])).toThrow(InvalidOptionError);
    expect(() => renderChat(strict, [{ role: "assistant", content: "x" }])).toThrow(/first message must be from the user/);
    expect(renderChat(strict, [{ role: "user", content: "x" }])).toBe("ok");
  });

  it("rejects malformed messages and unparsable templates", () => {
    expect(() => renderChat(undefined, [{ role: "user" } as never])).toThrow(InvalidOptionError);
    expect(() => renderChat("{% for %}", [{ role: "user", content: "x" }])).toThrow(ModelLoadError);
  });
});
