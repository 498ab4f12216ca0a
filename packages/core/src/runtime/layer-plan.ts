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
  /**
   * Present when the plan ranks the layers before deciding (a layer budget):
   * the runner first passes the prompt through every layer, handing this the
   * mean hidden state entering each layer that wants one, then prefills.
   */
  probe?: {
    observe(layer: number, hidden: Float32Array | null): void;
    /** The last layer whose input it needs: the probe stops there. */
    lastLayer: number;
  };
}

/** Which layers a sequence executes; decided at prefill. */
export type LayerPlanSpec =
  | { kind: "full" }
  | { kind: "mask"; executed: boolean[] }
  | { kind: "routers"; routers: RouterSetData; threshold?: number; budget?: LayerBudget };

/**
 * A per-request layer budget for routers: exactly `layers` decoder layers run
 * (of all of them, the routerless exempt layers included), or a `skipRatio`
 * of the routable layers is skipped (rounded to the nearest layer). The
 * routers' probabilities on the full model's hidden states rank the routable
 * layers and the least needed are skipped, so a smaller budget skips a
 * superset of a larger one's layers.
 */
export type LayerBudget = { layers: number } | { skipRatio: number };

/** How many routable layers to skip for a budget; throws when it cannot be met. */
export function budgetSkips(budget: LayerBudget, nLayers: number, routable: number): number {
  if ("layers" in budget) {
    const { layers } = budget;
    if (!Number.isInteger(layers) || layers < 1 || layers > nLayers)
      throw new Error(`layer budget must be an integer in 1..${nLayers}, got ${layers}`);
    const fixed = nLayers - routable;
    if (layers < fixed) throw new Error(`layer budget ${layers} is below the ${fixed} layers that always run`);
    return Math.max(0, nLayers - layers);
  }
  const { skipRatio } = budget;
  if (!(skipRatio >= 0 && skipRatio <= 1)) throw new Error(`skip ratio must be in 0..1, got ${skipRatio}`);
  return Math.round(skipRatio * routable);
}

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
      return spec.budget ? budgetPlanner(r, nLayers, spec.budget) : thresholdPlanner(r, nLayers, spec.threshold ?? r.config.threshold);
    }
  }
}

function thresholdPlanner(r: RouterSetData, nLayers: number, threshold: number): LayerPlanner {
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

/**
 * executed[l] for a budget: the `skips` routable layers of lowest p are
 * skipped (ties: the later layer, since keeping earlier layers changes less
 * downstream). Shared by inference and the LoRA stage of training.
 */
export function budgetMask(p: readonly number[], routable: readonly number[], skips: number, nLayers: number): boolean[] {
  const skip = new Set([...routable].sort((a, b) => p[a] - p[b] || b - a).slice(0, skips));
  return Array.from({ length: nLayers }, (_, l) => !skip.has(l));
}

function budgetPlanner(r: RouterSetData, nLayers: number, budget: LayerBudget): LayerPlanner {
  const routable = r.layers.flatMap((w, l) => (w === null ? [] : [l]));
  const skips = budgetSkips(budget, nLayers, routable.length);
  const probabilities: (number | null)[] = new Array(nLayers).fill(null);
  let executed: boolean[] | null = null;
  const plan = (): boolean[] => {
    if (executed) return executed;
    if (skips > 0 && probabilities.some((p, l) => p === null && r.layers[l] !== null))
      throw new Error("a layer budget needs the probe pass before prefill");
    executed = budgetMask(probabilities as number[], routable, skips, nLayers);
    return executed;
  };
  return {
    probabilities,
    needsHidden: () => false,
    decide: (l) => plan()[l],
    probe:
      skips === 0
        ? undefined
        : {
            observe: (l, hidden) => {
              if (r.layers[l] !== null && hidden !== null) probabilities[l] = routerProbability(r, l, hidden);
            },
            lastLayer: routable[routable.length - 1],
          },
  };
}
