// How a sequence chooses which decoder layers to execute. The choice is made
// once, during prefill, layer by layer; decoding reuses it for every token.

/** Decides, during prefill, whether a sequence executes each layer. */
export interface LayerPlanner {
  /** Whether decide(layer) needs the mean prompt hidden state entering `layer`. */
  needsHidden(layer: number): boolean;
  /** true = execute layer `layer`. `hidden` is the mean over the prompt positions. */
  decide(layer: number, hidden: Float32Array | null): boolean;
}

/** Runs every layer: the full model. */
export const fullPlanner: LayerPlanner = {
  needsHidden: () => false,
  decide: () => true,
};
