# Shared by mm_run.sh and perf_run.sh: start runtime.tp × runtime.dp modeltest processes
# (runners/launch.py) and exit with rank 0's own exit code. Source it, then call:
#   launch <modeltest overrides ...>
#   PYTHON           the interpreter (default: python, i.e. the active virtual environment)
#   NPROC            the number of processes (default: runtime.tp × runtime.dp, where
#                    runtime.dp: auto, in conf/runtime/default.yaml, is the visible devices / tp)
# The launcher runs as this shell's child job: killing the script, or Ctrl-C in its
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
  local python=${PYTHON:-python} nproc=()
  # a Ctrl-C before the launcher starts: one line (the launcher has its own from then on)
  # (said by this shell only: a command substitution's subshell may run the trap too)
  trap '[ "$BASHPID" = "$$" ] && echo "interrupted: nothing was written yet; rerun the same command to start again" >&2; exit 130' INT
  trap '[ "$BASHPID" = "$$" ] && echo "interrupted: nothing was written yet; rerun the same command to start again" >&2; exit 143' TERM
  check_python "$python" || exit 2
  # the launcher starts runtime.tp x runtime.dp workers (runtime.dp: auto is resolved there)
  [ -n "${NPROC:-}" ] && nproc=(--nproc "$NPROC")
  # The launcher runs as a background job: it starts with Ctrl-C and SIGTERM ignored, so that
  # one landing while its interpreter starts is not an import's traceback, and this shell
  # passes a signal on, again every second for a few seconds (until the launcher's own
  # handlers take it: they count repeats as one request), then waits for its exit code.
  local seen="" signals=0 before child code tries=0
  trap 'seen=INT; signals=$(( signals + 1 ))' INT
  trap 'seen=TERM; signals=$(( signals + 1 ))' TERM
  ( trap '' INT TERM
    MODELTEST_DIE_WITH_PARENT=1 exec "$python" -m runners.launch "${nproc[@]}" "$@" < /dev/null ) &
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
