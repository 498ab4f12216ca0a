// Entry point of the engine worker thread: owns the native model and engine,
// so generation never blocks the main thread's event loop.
import { parentPort } from "node:worker_threads";
import { applyLora } from "../lora/engine-lora.js";
import { native, type ModelConfig, type NativeEngine } from "../native.js";
import { measureBlockInfluence } from "./block-influence.js";
import type { RouterSetData } from "../routers/router-set.js";
import type { LayerPlanSpec } from "./layer-plan.js";
import type { FromWorker, ToWorker, WirePlan } from "./protocol.js";
import { Scheduler } from "./scheduler.js";
import { scoreContinuation } from "./score.js";

const port = parentPort;
if (!port) throw new Error("runtime/worker.js must run in a worker thread");
const post = (m: FromWorker) => port.postMessage(m);
let scheduler: Scheduler | null = null;
let engine: NativeEngine | null = null;
let config: ModelConfig | null = null;
/** Router sets the main thread registered, by id (sent once, named by requests). */
const routerSets = new Map<number, RouterSetData>();

function resolvePlan(plan: WirePlan): LayerPlanSpec {
  if (plan.kind !== "routers") return plan;
  const routers = routerSets.get(plan.routersId);
  if (!routers) throw new Error(`router set ${plan.routersId} is not registered with the engine`);
  return { kind: "routers", routers, threshold: plan.threshold, budget: plan.budget };
}

port.on("message", (msg: ToWorker) => {
  if (msg.type === "load") {
    try {
      const { Model, Engine } = native();
      const model = new Model(msg.options.modelPath);
      engine = new Engine(model, msg.options);
      if (msg.options.lora) applyLora(engine, msg.options.lora);
      const first = msg.options.lora ? 2 : 1;
      (msg.options.adapters ?? []).forEach((a, i) => applyLora(engine!, a.lora, first + i));
      // Named adapters are opt-in: without a default `lora`, requests run the base model.
      if (!msg.options.lora && (msg.options.adapters ?? []).length > 0) engine.setDefaultAdapter(0);
      config = model.config();
      scheduler = new Scheduler(engine, config.nLayers, config.dModel, config.vocabSize, post, msg.options.prefillChunk);
      post({ type: "loaded", config, engine: engine.info() });
    } catch (err) {
      post({ type: "load-error", message: (err as Error).message });
    }
  } else if (msg.type === "register-routers") {
    routerSets.set(msg.routersId, msg.routers);
  } else if (msg.type === "drop-routers") {
    routerSets.delete(msg.routersId);
  } else if (msg.type === "generate") {
    if (!scheduler) post({ type: "error", id: msg.id, message: "model not loaded" });
    else {
      try {
        scheduler.submit({ ...msg, plan: resolvePlan(msg.plan) });
      } catch (err) {
        post({ type: "error", id: msg.id, message: (err as Error).message });
      }
    }
  } else if (msg.type === "block-influence") {
    // Runs between scheduler steps (message handlers never interleave with a step).
    try {
      if (!engine || !config) throw new Error("model not loaded");
      post({ type: "block-influence", id: msg.id, scores: measureBlockInfluence(engine, config.nLayers, config.dModel, msg.sequences) });
    } catch (err) {
      post({ type: "error", id: msg.id, message: (err as Error).message, code: (err as { code?: string }).code });
    }
  } else if (msg.type === "score") {
    // Like block influence: runs whole, between scheduler steps.
    try {
      if (!engine || !config) throw new Error("model not loaded");
      post({ type: "scored", id: msg.id, ...scoreContinuation(engine, config, msg.prompt, msg.continuation, resolvePlan(msg.plan)) });
    } catch (err) {
      post({ type: "error", id: msg.id, message: (err as Error).message, code: (err as { code?: string }).code });
    }
  } else if (msg.type === "kv-stats") {
    if (!engine) post({ type: "error", id: msg.id, message: "model not loaded" });
    else {
      const k = engine.kvStats();
      post({ type: "kv-stats", id: msg.id, usedBlocks: k.usedBlocks, freeBlocks: k.freeBlocks, blockBytes: k.blockBytes, blockTokens: k.blockTokens });
    }
  } else if (msg.type === "close") {
    port.close();
  }
});
