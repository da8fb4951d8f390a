# Shared by mm_run.sh and perf_run.sh: start tp × dp modeltest processes (runners/launch.py)
# and exit with rank 0's own exit code. Source it, then call: launch <modeltest overrides ...>
#   PYTHON           the interpreter (default: python, i.e. the active virtual environment)
#   NPROC            the number of processes (default: runtime.tp × runtime.dp)
#   runtime.tp=N     tensor-parallel size (default 1)
#   runtime.dp=N     data-parallel size (default: the visible devices / tp; 1 on CPU)
# The launcher replaces this shell (exec): killing the script's process, or Ctrl-C in its
# terminal, stops every worker.

visible_devices() {
  local list=${ASCEND_RT_VISIBLE_DEVICES:-${CUDA_VISIBLE_DEVICES:-}}
  if [ -n "$list" ]; then
    echo "$list" | tr ',' '\n' | grep -c .
  elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    nvidia-smi -L | grep -c '^GPU'
  elif command -v npu-smi >/dev/null 2>&1; then
    npu-smi info -l 2>/dev/null | grep -ci 'NPU ID' || echo 1
  else
    echo 1
  fi
}

# The project must be importable by this Python: say how to get there instead of a traceback.
check_python() {
  local python=$1
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "modeltest: error: no '$python' on PATH; activate the project's virtual environment" \
         "first (. .venv/bin/activate), or create it: python3 -m venv .venv &&" \
         ". .venv/bin/activate && pip install -e ." >&2
    return 2
  fi
  local missing
  missing=$("$python" -c 'import importlib.util as u
print(" ".join(m for m in ("torch", "transformers", "hydra", "runners") if u.find_spec(m) is None))' 2>/dev/null)
  if [ $? -ne 0 ] || [ -n "$missing" ]; then
    echo "modeltest: error: $(command -v "$python") cannot import ${missing:-the project}; activate" \
         "the project's virtual environment first (. .venv/bin/activate), or install it:" \
         "python3 -m venv .venv && . .venv/bin/activate && pip install -e ." >&2
    return 2
  fi
}

launch() {
  local tp="" dp="" arg extra=() python=${PYTHON:-python} nproc_tp nproc_dp
  # a Ctrl-C before the launcher starts: one line (the launcher has its own from then on)
  trap 'echo "interrupted: nothing was written yet; rerun the same command to start again" >&2; exit 130' INT
  trap 'echo "interrupted: nothing was written yet; rerun the same command to start again" >&2; exit 143' TERM
  for arg in "$@"; do
    case "$arg" in
      runtime.tp=*) tp=${arg#runtime.tp=} ;;
      runtime.dp=*) dp=${arg#runtime.dp=} ;;
    esac
  done
  check_python "$python" || exit 2
  case "$tp" in ''|*[!0-9]*) nproc_tp=1 ;; *) nproc_tp=$tp ;; esac
  [ "$nproc_tp" -ge 1 ] || nproc_tp=1
  if [ -z "$dp" ]; then
    dp=$(( $(visible_devices) / nproc_tp ))
    [ "$dp" -ge 1 ] || dp=1
    extra+=("runtime.dp=$dp")
  fi
  case "$dp" in ''|*[!0-9]*) nproc_dp=1 ;; *) nproc_dp=$dp ;; esac
  [ "$nproc_dp" -ge 1 ] || nproc_dp=1
  exec "$python" -m runners.launch --nproc "${NPROC:-$(( nproc_tp * nproc_dp ))}" "$@" "${extra[@]}"
}
