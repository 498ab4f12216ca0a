// How a sequence chooses which decoder layers to execute. The choice is made
// once, during prefill, layer by layer; decoding reuses it for every token.
import { routerProbability, type RouterSetData } from "../routers/router-set.js";

/** Decides, during prefill, whether a sequence executes each layer. */
export interface LayerPlanner {
  /** Whether decide(layer) needs the mean prompt hidden state entering `layer`. */
  needsHidden(layer: number): boolean;
  /** true = execute layer `layer`. `hidden` is the mean over the prompt positions. */
  decide(layer: number, hidden: Float32Array | null): boolean;
  /** Router probabilities seen so far (routers only), by layer. */
  probabilities?: (number | null)[];
}

/** Which layers a sequence executes; decided at prefill. */
export type LayerPlanSpec =
  | { kind: "full" }
  | { kind: "mask"; executed: boolean[] }
  | { kind: "routers"; routers: RouterSetData; threshold?: number };

/** Runs every layer: the full model. */
export const fullPlanner: LayerPlanner = {
  needsHidden: () => false,
  decide: () => true,
};

export function plannerFor(spec: LayerPlanSpec, nLayers: number): LayerPlanner {
  switch (spec.kind) {
    case "full":
      return fullPlanner;
    case "mask":
      if (spec.executed.length !== nLayers)
        throw new Error(`layer mask has ${spec.executed.length} entries, the model has ${nLayers} layers`);
      return { needsHidden: () => false, decide: (l) => spec.executed[l] };
    case "routers": {
      const r = spec.routers;
      if (r.config.nLayers !== nLayers) throw new Error(`routers are for ${r.config.nLayers} layers, the model has ${nLayers}`);
      const threshold = spec.threshold ?? r.config.threshold;
      const probabilities: (number | null)[] = new Array(nLayers).fill(null);
      return {
        probabilities,
        needsHidden: (l) => r.layers[l] !== null,
        decide: (l, hidden) => {
          if (r.layers[l] === null || hidden === null) return true;
          const p = routerProbability(r, l, hidden);
          probabilities[l] = p;
          return p >= threshold;
        },
      };
    }
  }
}
