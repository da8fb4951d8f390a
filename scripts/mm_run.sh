#!/usr/bin/env bash
# Accuracy of one model on one benchmark, launched through torchrun.
#   bash scripts/mm_run.sh <task> <model> [key=value ...]
# NPROC sets the number of processes (default: 1).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash scripts/mm_run.sh <task> <model> [key=value ...]" >&2
  exit 2
fi
task=$1
model=$2
shift 2
exec "${PYTHON:-python}" -m torch.distributed.run --standalone --nproc_per_node="${NPROC:-1}" \
  -m runners.cli task="$task" model="$model" "$@"
