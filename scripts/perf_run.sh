#!/usr/bin/env bash
# Throughput and latency at batch sizes 1..10 (runner.batch_sizes), 256 output tokens.
#   bash scripts/perf_run.sh <model> [key=value ...]
# runtime.tp=N shards the model over N processes (one data-parallel group).
set -uo pipefail
if [ $# -lt 1 ]; then
  echo "usage: bash scripts/perf_run.sh <model> [key=value ...]" >&2
  exit 2
fi
model=$1
shift
. "$(dirname "$0")/launch.sh"
launch runner=performance model="$model" runtime.dp=1 "$@"
