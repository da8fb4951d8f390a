#!/usr/bin/env bash
# Accuracy of one model on one benchmark, in tp × dp processes (runners/launch.py).
#   bash scripts/mm_run.sh <task> <model> [key=value ...]
# runtime.tp / runtime.dp choose the parallel layout (tp × dp processes); by default dp is
# the number of visible devices (1 on CPU). runtime.nnodes / runtime.node_rank /
# runtime.master_addr / runtime.master_port (or srun's variables) make it one node of a
# multi-node job: run it on every node (README "Multi-node"). The exit code is the run's
# own (0 pass, 2 config/data error, 3 gate failed, 4 aborted, 130/143 interrupted). Killing
# this script or Ctrl-C stops every worker.
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash scripts/mm_run.sh <task> <model> [key=value ...]" >&2
  exit 2
fi
task=$1
model=$2
shift 2
. "$(dirname "$0")/launch.sh"
launch task="$task" model="$model" "$@"
