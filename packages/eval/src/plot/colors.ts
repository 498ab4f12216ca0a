// Colours: one per policy family for scatter plots, and a sequential scale
// (white to deep blue) for heatmaps, so that "never skipped" reads as blank.

const FAMILY_COLORS: Record<string, string> = {
  full: "#222222",
  first: "#d62728",
  "first+lora": "#e377c2",
  "full+lora": "#7f7f7f",
  uls: "#1f77b4",
  bi: "#2ca02c",
  random: "#9467bd",
  last: "#ff7f0e",
  exit: "#8c564b",
  skip: "#17becf",
};
const SPARE = ["#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

/** The family of a policy name: "uls:9" -> "uls", "first@0.5" -> "first". */
export function policyFamily(policy: string): string {
  return policy.split(/[:@]/)[0];
}

export function familyColor(family: string, index = 0): string {
  return FAMILY_COLORS[family] ?? SPARE[index % SPARE.length];
}

const STOPS: [number, [number, number, number]][] = [
  [0, [255, 255, 255]],
  [0.25, [198, 219, 239]],
  [0.5, [107, 174, 214]],
  [0.75, [33, 113, 181]],
  [1, [8, 48, 107]],
];

/** Colour of a value in [0, 1] on the heatmap scale. */
export function sequentialColor(t: number): string {
  const v = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0));
  let i = 0;
  while (i < STOPS.length - 2 && v > STOPS[i + 1][0]) i++;
  const [t0, c0] = STOPS[i];
  const [t1, c1] = STOPS[i + 1];
  const f = (v - t0) / (t1 - t0);
  const hex = c0.map((c, k) => Math.round(c + (c1[k] - c) * f).toString(16).padStart(2, "0")).join("");
  return `#${hex}`;
}

/** Dark text on light cells, white text on dark ones. */
export function textOn(t: number): string {
  return t > 0.55 ? "#ffffff" : "#222222";
}
