#!/usr/bin/env bash
# adversarial_qa on all 200 examples of its eval split (the comparison table
# uses the first 50, which come from only ten passages).
# Usage: benchmarks/eval-mix-routers-qa200.sh [OUT_DIR] (default
# benchmarks/results/mix-routers-qa200; rerunning resumes). Needs `pnpm build`.
exec "$(dirname "$0")/eval-mix-routers-split.sh" adversarial_qa_t0 "" "${1:-benchmarks/results/mix-routers-qa200}"
