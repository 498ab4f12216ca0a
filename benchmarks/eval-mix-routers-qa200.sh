#!/usr/bin/env bash
# adversarial_qa on all 200 examples of its eval split (the comparison table
# uses the first 50, which come from only ten passages): the full model, the
# adapter alone, and the shipped routers with their adapter. Greedy, 2 threads.
# Usage: benchmarks/eval-mix-routers-qa200.sh [OUT_DIR] (default
# benchmarks/results/mix-routers-qa200; rerunning resumes). Needs `pnpm build`.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-benchmarks/results/mix-routers-qa200}"
SHIP=routers/smollm2-135m-instruct-mix
FIRST=(node packages/cli/dist/main.js eval --model smollm2-135m-instruct --task adversarial_qa_t0 --threads 2 --json)
"${FIRST[@]}" --out "$OUT/full" > /dev/null
"${FIRST[@]}" --lora "$SHIP/lora" --out "$OUT/full+lora" > /dev/null
"${FIRST[@]}" --routers "$SHIP" --lora "$SHIP/lora" --out "$OUT/first+lora" > /dev/null
node -e '
  const fs = require("fs"), path = require("path"), out = process.argv[1];
  const rows = ["full", "full+lora", "first+lora"].map((p) => ({ ...JSON.parse(fs.readFileSync(path.join(out, p, "summary.json"), "utf8")), policy: p }));
  const lines = ["| policy | examples | layers run | EM | F1 |", "|:--|--:|--:|--:|--:|",
    ...rows.map((r) => `| ${r.policy} | ${r.examples} | ${r.executedLayers.toFixed(2)} | ${r.quality.em.toFixed(4)} | ${r.quality.f1.toFixed(4)} |`)];
  fs.writeFileSync(path.join(out, "table.md"), lines.join("\n") + "\n");
  console.log(lines.join("\n"));
' "$OUT"
