// The llama.cpp side of the speed benchmark: @first/bench's node-llama-cpp peer
// (CPU only, prebuilt binaries, never a local build), shared with `first bench`.
import { loadLlamaCppPeer, type LlamaCppPeer } from "@first/bench";

export type { LlamaCppContext, LlamaCppInfo } from "@first/bench";

export const LlamaCppBench = {
  /** Loads the model in llama.cpp; throws when node-llama-cpp is missing or cannot load it. */
  async open(modelPath: string): Promise<LlamaCppPeer> {
    const peer = await loadLlamaCppPeer(modelPath);
    if ("unavailable" in peer) throw new Error(peer.unavailable);
    return peer;
  },
};
