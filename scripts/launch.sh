# Shared by mm_run.sh and perf_run.sh: start runtime.tp × runtime.dp modeltest processes
# (runners/launch.py) and exit with rank 0's own exit code. Source it, then call:
#   launch <modeltest overrides ...>
#   PYTHON           the interpreter (default: python, i.e. the active virtual environment)
#   NPROC            the number of processes (default: runtime.tp × runtime.dp, where
#                    runtime.dp: auto, in conf/runtime/default.yaml, is the visible devices / tp)
# The launcher replaces this shell (exec): killing the script's process, or Ctrl-C in its
# terminal, stops every worker.

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
  local python=${PYTHON:-python}
  check_python "$python" || exit 2
  if [ -n "${NPROC:-}" ]; then
    exec "$python" -m runners.launch --nproc "$NPROC" "$@"
  fi
  exec "$python" -m runners.launch "$@"
}
