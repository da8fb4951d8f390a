# Shared by mm_run.sh and perf_run.sh: start tp × dp processes with torchrun and exit with
# rank 0's own exit code. Source it, then call: launch <modeltest overrides ...>
#   NPROC            the number of processes (default: runtime.tp × runtime.dp)
#   runtime.tp=N     tensor-parallel size (default 1)
#   runtime.dp=N     data-parallel size (default: the visible devices / tp; 1 on CPU)

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

launch() {
  local tp="" dp="" arg extra=()
  for arg in "$@"; do
    case "$arg" in
      runtime.tp=*) tp=${arg#runtime.tp=} ;;
      runtime.dp=*) dp=${arg#runtime.dp=} ;;
    esac
  done
  tp=${tp:-1}
  if [ -z "$dp" ]; then
    dp=$(( $(visible_devices) / tp ))
    [ "$dp" -ge 1 ] || dp=1
    extra+=("runtime.dp=$dp")
  fi
  local nproc=${NPROC:-$(( tp * dp ))}
  local exit_file
  exit_file=$(mktemp)
  MODELTEST_EXIT_FILE="$exit_file" "${PYTHON:-python}" -m torch.distributed.run --standalone \
    --nproc_per_node="$nproc" -m runners.cli "$@" "${extra[@]}"
  local status=$?
  if [ -s "$exit_file" ]; then
    status=$(cat "$exit_file")
  fi
  rm -f "$exit_file"
  return "$status"
}
