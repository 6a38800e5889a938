#!/usr/bin/env bash
# Build the overlay that lets SGLang's own serving benchmark, `python -m sglang.benchmark.serving`
# of a pinned release, run on this CPU-only machine (tools/sglang-overlay-env.sh says how).
#
#   bash tools/sglang-bench-env.sh 0.5.23     # builds .cache/sglang-0.5.23-bench-overlay/ once
exec bash "$(dirname "${BASH_SOURCE[0]}")/sglang-overlay-env.sh" bench "$@"
