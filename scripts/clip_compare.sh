#!/usr/bin/env bash
# Caption the same images twice (two backends, dtypes or settings), then judge both with CLIP.
#   bash scripts/clip_compare.sh <model> <image_dir|demo> "<overrides A>" "<overrides B>" [compare overrides]
# e.g. on a machine with both devices:
#   bash scripts/clip_compare.sh qwen2_vl /data/coco/val2014 "runtime.device=cuda" "runtime.device=npu" \
#        runner.judge.weights=/data/ViT-H-14/open_clip_pytorch_model.bin
# On two machines, run the two captioning commands on each (mm_run.sh coco_caption ...), copy
# the predict_result.json files to one place and run the final modeltest runner=clip_compare.
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: bash scripts/clip_compare.sh <model> <image_dir|demo> \"<overrides A>\" \"<overrides B>\" [compare overrides]" >&2
  exit 2
fi
model=$1 images=$2 overrides_a=$3 overrides_b=$4
shift 4
root=${OUT:-outputs/$(date +%Y-%m-%d)/modeltest/$model/clip_compare}
image_arg=()
[ "$images" = demo ] || image_arg=("task.image_dir=$images")
here=$(dirname "$0")
# shellcheck disable=SC2086  # each side's overrides are a space-separated list on purpose
bash "$here/mm_run.sh" coco_caption "$model" "${image_arg[@]}" $overrides_a output_dir="$root/a"
# shellcheck disable=SC2086
bash "$here/mm_run.sh" coco_caption "$model" "${image_arg[@]}" $overrides_b output_dir="$root/b"
"${PYTHON:-python}" -m runners.cli runner=clip_compare task=coco_caption "${image_arg[@]}" \
  runner.predictions_a="$root/a/results/predict_result.json" \
  runner.predictions_b="$root/b/results/predict_result.json" \
  "runner.labels=['${overrides_a//\'/}','${overrides_b//\'/}']" output_dir="$root/compare" "$@"
