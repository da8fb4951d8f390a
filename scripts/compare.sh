#!/usr/bin/env bash
# Run one task twice (two devices, dtypes, backends, parallel layouts, builds), then compare the
# two runs token by token and sample by sample, with a verdict (runner=compare).
#   bash scripts/compare.sh <task> <model> "<overrides A>" "<overrides B>" [compare overrides]
# e.g.
#   bash scripts/compare.sh vqav2 demo_qwen2_vl "model.dtype=fp32" "model.dtype=bf16"
#   bash scripts/compare.sh textvqa qwen2_vl "runtime.device=cuda runtime.logprobs=5" \
#        "runtime.device=npu runtime.logprobs=5" runner.require=equivalent
# Run A is the reference (differences are B - A). The exit code is the comparison's: 0 pass,
# 2 not comparable or a bad setting, 3 the verdict failed runner.require; a failing run stops
# the script with its own code. OUT=<folder> chooses where a/, b/ and compare/ go. On two
# machines, run mm_run.sh on each, copy run B's output_dir beside A's and run the final
# `modeltest runner=compare runner.a=<A> runner.b=<B>`.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: bash scripts/compare.sh <task> <model> \"<overrides A>\" \"<overrides B>\" [compare overrides]" >&2
  exit 2
fi
task=$1 model=$2 overrides_a=$3 overrides_b=$4
shift 4
root=${OUT:-outputs/$(date +%Y-%m-%d)/modeltest/$model/compare_$task}
here=$(dirname "$0")
# shellcheck disable=SC2086  # each side's overrides are a space-separated list on purpose
bash "$here/mm_run.sh" "$task" "$model" $overrides_a output_dir="$root/a"
# shellcheck disable=SC2086
bash "$here/mm_run.sh" "$task" "$model" $overrides_b output_dir="$root/b"
"${PYTHON:-python}" -m runners.cli runner=compare model="$model" task="$task" \
  runner.a="$root/a" runner.b="$root/b" \
  "runner.labels=['${overrides_a//\'/}','${overrides_b//\'/}']" output_dir="$root/compare" "$@"
