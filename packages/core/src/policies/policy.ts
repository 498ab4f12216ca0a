// Input-agnostic layer-skipping baselines, run through the same engine path
// as the routers so that comparisons are fair:
//   full            every layer
//   skip:3,7,12     exactly these layers skipped (no exemptions)
//   uls:k           k layers skipped, evenly spaced over the routable layers (Unified Layer Skipping)
//   bi:k            the k layers with the lowest Block Influence on a calibration set (ShortGPT)
//   random:k[:seed] k routable layers chosen at random
//   last:k          the last k routable layers
//   exit:L          early exit: layers after L are skipped for every token (no exemptions)
// "Routable" layers are those not exempt (default: the first two and the last).
import { InvalidOptionError } from "../errors.js";
import { DEFAULT_EXEMPT } from "../routers/router-set.js";

export type Policy =
  | { kind: "full" }
  | { kind: "skip"; layers: number[] }
  | { kind: "uls" | "bi" | "last"; k: number }
  | { kind: "random"; k: number; seed: number }
  | { kind: "exit"; layer: number };

const bad = (spec: string, why: string) => new InvalidOptionError("policy", `"${spec}": ${why}`);

function int(spec: string, s: string | undefined, what: string): number {
  if (s === undefined || !/^\d+$/.test(s)) throw bad(spec, `${what} must be a non-negative integer`);
  return Number(s);
}

export function parsePolicy(spec: string): Policy {
  const [kind, ...rest] = spec.trim().split(":");
  switch (kind) {
    case "full":
      if (rest.length > 0) throw bad(spec, "full takes no argument");
      return { kind: "full" };
    case "skip": {
      if (rest.length !== 1 || rest[0] === "") throw bad(spec, "write skip:3,7,12");
      const layers = rest[0].split(",").map((s) => int(spec, s.trim(), "a layer"));
      if (new Set(layers).size !== layers.length) throw bad(spec, "a layer is listed twice");
      return { kind: "skip", layers };
    }
    case "uls":
    case "bi":
    case "last":
      if (rest.length !== 1) throw bad(spec, `write ${kind}:k`);
      return { kind, k: int(spec, rest[0], "k") };
    case "random":
      if (rest.length < 1 || rest.length > 2) throw bad(spec, "write random:k or random:k:seed");
      return { kind: "random", k: int(spec, rest[0], "k"), seed: rest.length > 1 ? int(spec, rest[1], "seed") : 0 };
    case "exit":
      if (rest.length !== 1) throw bad(spec, "write exit:L");
      return { kind: "exit", layer: int(spec, rest[0], "L") };
    default:
      throw bad(spec, "unknown policy (full, skip:..., uls:k, bi:k, random:k[:seed], last:k, exit:L)");
  }
}

export function policyName(p: Policy): string {
  switch (p.kind) {
    case "full": return "full";
    case "skip": return `skip:${p.layers.join(",")}`;
    case "random": return `random:${p.k}:${p.seed}`;
    case "exit": return `exit:${p.layer}`;
    default: return `${p.kind}:${p.k}`;
  }
}

/** A small seeded generator (mulberry32) so random:k is reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface MaskOptions {
  nLayers: number;
  exempt?: number[];
  /** Block Influence per layer (bi:k only). */
  blockInfluence?: number[];
}

/** executed[l] for a policy. Throws InvalidOptionError when it cannot apply to this model. */
export function policyMask(p: Policy, opts: MaskOptions): boolean[] {
  const n = opts.nLayers;
  const exempt = new Set(opts.exempt ?? DEFAULT_EXEMPT(n));
  const routable = [...Array(n).keys()].filter((l) => !exempt.has(l));
  const executed = new Array<boolean>(n).fill(true);
  const name = policyName(p);
  const needK = (k: number) => {
    if (k > routable.length) throw bad(name, `k = ${k} but only ${routable.length} of ${n} layers can be skipped`);
  };
  switch (p.kind) {
    case "full":
      break;
    case "skip":
      for (const l of p.layers) {
        if (l >= n) throw bad(name, `layer ${l} does not exist (the model has ${n})`);
        executed[l] = false;
      }
      break;
    case "exit":
      if (p.layer >= n) throw bad(name, `layer ${p.layer} does not exist (the model has ${n})`);
      for (let l = p.layer + 1; l < n; l++) executed[l] = false;
      break;
    case "uls":
      needK(p.k);
      // Evenly spaced: the centre of each of k equal slices of the routable layers.
      for (let i = 0; i < p.k; i++) executed[routable[Math.floor(((i + 0.5) * routable.length) / p.k)]] = false;
      break;
    case "last":
      needK(p.k);
      for (const l of routable.slice(routable.length - p.k)) executed[l] = false;
      break;
    case "random": {
      needK(p.k);
      const pool = routable.slice();
      const next = rng(p.seed);
      for (let i = pool.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [pool[i], pool[j]] = [pool[j], pool[i]];
      }
      for (const l of pool.slice(0, p.k)) executed[l] = false;
      break;
    }
    case "bi": {
      needK(p.k);
      const bi = opts.blockInfluence;
      if (!bi || bi.length !== n) throw bad(name, "needs Block Influence scores for this model");
      const order = routable.slice().sort((a, b) => bi[a] - bi[b] || a - b);
      for (const l of order.slice(0, p.k)) executed[l] = false;
      break;
    }
  }
  return executed;
}
