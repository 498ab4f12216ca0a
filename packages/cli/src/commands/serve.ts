// `first serve`: the OpenAI-compatible server (@first/server).
import { createServer } from "@first/server";
import { UsageError } from "../args.js";
import { defineCommand } from "../command.js";

/** "NAME=DIR" (or a bare DIR, named `fallback`). */
function named(spec: string, flag: string, fallback?: string): { name: string; value: string } {
  const eq = spec.indexOf("=");
  if (eq > 0) return { name: spec.slice(0, eq), value: spec.slice(eq + 1) };
  if (fallback === undefined) throw new UsageError(`${flag}: expected NAME=DIR, got "${spec}"`);
  return { name: fallback, value: spec };
}

export const serveCommand = defineCommand({
  name: "serve",
  summary: "Serve models over an OpenAI-compatible HTTP API",
  description: [
    "POST /v1/chat/completions and /v1/completions (stream true or false), GET /v1/models, /health, /metrics",
    "(Prometheus), POST /tokenize and /detokenize. Requests may add \"first\": {\"routers\", \"threshold\",",
    "\"layer_budget\", \"skip_ratio\", \"policy\"} to choose their layers; responses carry usage.first",
    "{executed_layers, skipped_layers, kv_bytes}. Each --lora adapter is served as its own model id (parent:",
    "the base model). SIGTERM or Ctrl-C stops accepting, lets running requests finish (up to 30 s), then exits.",
  ].join("\n"),
  flags: {
    model: { type: "list", short: "m", help: "a model to serve: PATH, alias or hf: source, or ID=SOURCE (repeatable; default smollm2-135m-instruct)", valueName: "m" },
    routers: { type: "list", help: "router set: DIR (named \"default\") or NAME=DIR (repeatable)", valueName: "dir" },
    lora: { type: "list", help: "adapter as its own model id: NAME=DIR (repeatable; on the first model)", valueName: "name=dir" },
    first: { type: "boolean", help: "requests without a first object use the default routers" },
    host: { type: "string", help: "address to listen on", default: "127.0.0.1" },
    port: { type: "int", help: "port", default: 8080, min: 0, max: 65535 },
    parallel: { type: "int", help: "sequences decoding at once per model", default: 4, min: 1, max: 256 },
    queue: { type: "int", help: "requests waiting per model beyond --parallel (then 503)", default: 64, min: 0 },
    ctx: { type: "int", help: "context length (default: the model's)", min: 16 },
    "prefill-chunk": { type: "int", help: "prefill prompts longer than this in slices of at most this many tokens, one per step beside running streams (full model and fixed policies; 0: whole)", default: 64, min: 0 },
    threads: { type: "int", short: "t", help: "CPU threads per model (default: all cores)", min: 1, max: 1024 },
    apiKey: { type: "string", help: "require 'Authorization: Bearer KEY' (default: $FIRST_API_KEY; none when unset)", valueName: "key" },
    cors: { type: "string", help: "allowed CORS origins, comma-separated, or *", valueName: "origins" },
    timeout: { type: "number", help: "end a request after this many seconds", min: 0.001, valueName: "s" },
  },
  examples: [
    "first serve",
    "first serve --routers packages/core/shipped/smollm2-135m-instruct-mix-routers-lora --first --port 8080",
    "first serve --model smollm2-135m-instruct --lora mix=packages/core/shipped/smollm2-135m-instruct-mix-routers-lora/lora --api-key secret",
  ],
  async run({ flags, signal }) {
    const models = (flags.model.length > 0 ? flags.model : ["smollm2-135m-instruct"]).map((m) => {
      const n = /^[A-Za-z0-9._-]+=/.test(m) ? named(m, "--model") : null;
      return n ? { id: n.name, source: n.value } : { source: m };
    });
    const routers = flags.routers.map((r) => named(r, "--routers", "default")).map((r) => ({ name: r.name, dir: r.value }));
    const adapters = flags.lora.map((l) => named(l, "--lora")).map((l) => ({ name: l.name, dir: l.value }));
    if (flags.first && routers.length === 0) throw new UsageError("--first needs --routers DIR");
    const server = createServer({
      models,
      routers,
      adapters,
      defaults: flags.first ? { routers: "default" } : undefined,
      threads: flags.threads,
      parallel: flags.parallel,
      queue: flags.queue,
      ctx: flags.ctx,
      prefillChunk: flags["prefill-chunk"],
      apiKey: flags.apiKey ?? process.env.FIRST_API_KEY,
      cors: flags.cors?.split(",").map((s) => s.trim()).filter(Boolean),
      timeoutS: flags.timeout,
    });
    const address = await server.listen(flags.port, flags.host);
    process.stderr.write(`listening on ${address} (loading the models)\n`);
    try {
      await server.ready;
    } catch (err) {
      await server.close(0);
      throw err;
    }
    process.stderr.write(`ready: ${address}/v1\n`);
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    process.stderr.write("shutting down: finishing running requests\n");
    await server.close(30_000);
    return 0;
  },
});
