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
  # (said by this shell only: a command substitution's subshell may run the trap too)
  trap '[ "$BASHPID" = "$$" ] && echo "interrupted: nothing was written yet; rerun the same command to start again" >&2; exit 130' INT
  trap '[ "$BASHPID" = "$$" ] && echo "interrupted: nothing was written yet; rerun the same command to start again" >&2; exit 143' TERM
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
  # The launcher runs as a background job: it starts with Ctrl-C and SIGTERM ignored, so that
  # one landing while its interpreter starts is not an import's traceback, and this shell
  # passes a signal on, again every second for a few seconds (until the launcher's own
  # handlers take it: they count repeats as one request), then waits for its exit code.
  local seen="" signals=0 before child code tries=0
  trap 'seen=INT; signals=$(( signals + 1 ))' INT
  trap 'seen=TERM; signals=$(( signals + 1 ))' TERM
  ( trap '' INT TERM
    MODELTEST_DIE_WITH_PARENT=1 exec "$python" -m runners.launch \
        --nproc "${NPROC:-$(( nproc_tp * nproc_dp ))}" "$@" "${extra[@]}" < /dev/null ) &
  child=$!
  while :; do
    before=$signals
    wait "$child"; code=$?
    if [ "$signals" = "$before" ]; then   # the launcher ended: its exit code is the run's
      # (its status already taken by a wait that a signal cut short: it was asked to stop)
      if [ "$code" -lt 0 ] || [ "$code" -eq 127 ]; then
        [ "$seen" = TERM ] && code=143 || code=130
      fi
      exit "$code"
    fi
    # the wait was cut short by a signal: pass it on while the launcher still runs
    while [ "$tries" -lt 10 ] && kill -0 "$child" 2>/dev/null; do
      kill -s "$seen" "$child" 2>/dev/null
      tries=$(( tries + 1 ))
      sleep 1 & wait $! 2>/dev/null
    done
  done
}
