#!/usr/bin/env bash
# Accuracy of one model on one benchmark, launched through torchrun.
#   bash scripts/mm_run.sh <task> <model> [key=value ...]
# NPROC sets the number of processes (default: 1). The exit code is the run's own
# (0 pass, 2 config/data error, ...), not torchrun's.
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash scripts/mm_run.sh <task> <model> [key=value ...]" >&2
  exit 2
fi
task=$1
model=$2
shift 2
exit_file=$(mktemp)
trap 'rm -f "$exit_file"' EXIT
MODELTEST_EXIT_FILE="$exit_file" "${PYTHON:-python}" -m torch.distributed.run --standalone \
  --nproc_per_node="${NPROC:-1}" -m runners.cli task="$task" model="$model" "$@"
status=$?
if [ -s "$exit_file" ]; then
  exit "$(cat "$exit_file")"
fi
exit "$status"
