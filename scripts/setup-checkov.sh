#!/usr/bin/env bash
# Create .venv-checkov with checkov, apart from the project venv (its dependency pins clash with
# the project's). Idempotent: does nothing when the pinned version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="3.3.30"
VENV=".venv-checkov"
PYTHON="${PYTHON:-python3}"
if [ -x "$VENV/bin/checkov" ] && "$VENV/bin/python" -m pip show checkov 2>/dev/null | grep -qx "Version: $VERSION"; then
  exit 0
fi
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "checkov==$VERSION"
