// Block Influence (ShortGPT): BI_l = 1 - mean over tokens of
// cos(h entering layer l, h leaving layer l). Layers that barely change the
// hidden state score low and are the first a BI policy skips.
import type { NativeEngine } from "../native.js";
import { driveLayers, engineStack } from "./layer-loop.js";

export function measureBlockInfluence(engine: NativeEngine, nLayers: number, dModel: number, sequences: number[][]): number[] {
  const sum = new Float64Array(nLayers);
  let tokens = 0;
  const stack = engineStack(engine);
  const hidden = new Float32Array(dModel);
  for (const ids of sequences) {
    if (ids.length === 0) continue;
    const seq = engine.createSequence();
    try {
      engine.beginBatch([{ seq, tokens: Int32Array.from(ids) }]);
      let before = engine.hiddenRows(0);
      const afterLayer = (l: number) => {
        const after = engine.hiddenRows(0);
        for (let t = 0; t < ids.length; t++) {
          let dot = 0, na = 0, nb = 0;
          for (let i = t * dModel, e = i + dModel; i < e; i++) {
            dot += before[i] * after[i];
            na += before[i] * before[i];
            nb += after[i] * after[i];
          }
          sum[l] += 1 - dot / (Math.sqrt(na * nb) || 1);
        }
        before = after;
      };
      driveLayers(stack, { rows: 1, layers: nLayers, gate: () => 1, afterLayer }, hidden);
      tokens += ids.length;
    } finally {
      engine.freeSequence(seq); // the step is never committed
    }
  }
  return Array.from(sum, (s) => (tokens > 0 ? s / tokens : 0));
}
