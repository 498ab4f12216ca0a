#!/usr/bin/env bash
# One eval task on more examples than the comparison table's first 50: the
# full model, the adapter alone, and the shipped routers with their adapter.
# Greedy, 2 threads.
# Usage: benchmarks/eval-mix-routers-split.sh TASK LIMIT OUT_DIR
#   LIMIT: the first n examples, or "" for the whole eval split
#   (rerunning resumes; a row whose folder holds other weights is refused).
# Needs `pnpm build`.
set -euo pipefail
cd "$(dirname "$0")/.."
TASK="$1"; LIMIT="$2"; OUT="$3"
SHIP=packages/core/shipped/smollm2-135m-instruct-mix-routers-lora
FIRST=(node packages/cli/dist/main.js eval --model smollm2-135m-instruct --task "$TASK" ${LIMIT:+--limit "$LIMIT"} --threads 2 --json)
"${FIRST[@]}" --out "$OUT/full" > /dev/null
"${FIRST[@]}" --lora "$SHIP/lora" --out "$OUT/full+lora" > /dev/null
"${FIRST[@]}" --routers "$SHIP" --lora "$SHIP/lora" --out "$OUT/first+lora" > /dev/null
node -e '
  const fs = require("fs"), path = require("path"), out = process.argv[1];
  const rows = ["full", "full+lora", "first+lora"].map((p) => ({ ...JSON.parse(fs.readFileSync(path.join(out, p, "summary.json"), "utf8")), policy: p }));
  const metrics = Object.keys(rows[0].quality);
  const lines = [`| policy | examples | layers run | ${metrics.join(" | ")} |`, `|:--|--:|--:|${metrics.map(() => "--:").join("|")}|`,
    ...rows.map((r) => `| ${r.policy} | ${r.examples} | ${r.executedLayers.toFixed(2)} | ${metrics.map((m) => r.quality[m].toFixed(4)).join(" | ")} |`)];
  fs.writeFileSync(path.join(out, "table.md"), lines.join("\n") + "\n");
  console.log(lines.join("\n"));
' "$OUT"
