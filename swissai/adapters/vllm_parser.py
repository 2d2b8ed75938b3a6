"""Run vLLM's real `vllm serve` parser on an argv, in whatever vLLM installation is at hand.

Where vLLM lives: $SWISSAI_VLLM_PYTHON, else this interpreter when it can import vllm, else the
interpreter of the `vllm` executable on PATH (its shebang). The parse runs in a child process
(swissai/tools/vllm_argcheck.py): importing vLLM takes seconds and must not happen in-process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from swissai.errors import EnvironmentProblem

PARSE_TIMEOUT_S = 300  # importing vLLM on a loaded 2-core machine takes up to a minute
ROOT = Path(__file__).resolve().parents[2]  # the folder holding the swissai package


@dataclass(frozen=True)
class ParserResult:
    python: str | None  # the interpreter whose vLLM parsed, None when none was found
    error: str  # "" when accepted
    table_version: str


def find_vllm_python() -> str | None:
    explicit = os.environ.get("SWISSAI_VLLM_PYTHON")
    if explicit:
        return explicit
    if importlib.util.find_spec("vllm") is not None:
        return sys.executable
    found = shutil.which("vllm")
    if found is None:
        return None
    try:
        with open(found, "rb") as fh:
            first = fh.readline(300).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if first.startswith("#!") and "python" in first:
        return first[2:].strip().split()[0]
    return None


def parse_with_vllm(argv: list[str], python: str | None = None) -> ParserResult:
    from swissai.core.vllm_flag_table import VLLM_VERSION

    python = python or find_vllm_python()
    if python is None:
        return ParserResult(None, "", VLLM_VERSION)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    try:
        out = subprocess.run(
            [python, "-m", "swissai.tools.vllm_argcheck"],
            input=json.dumps(argv),
            capture_output=True,
            text=True,
            timeout=PARSE_TIMEOUT_S,
            env=env,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(
            f"vLLM's parser at {python} could not run: {type(exc).__name__}",
            hint="set SWISSAI_VLLM_PYTHON to a working vLLM interpreter",
        ) from exc
    lines = out.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except ValueError:
        result = None
    if out.returncode != 0 or not isinstance(result, dict):
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1][:200]
        raise EnvironmentProblem(
            f"vLLM's parser at {python} failed: {tail}",
            hint="set SWISSAI_VLLM_PYTHON to a working vLLM interpreter",
        )
    return ParserResult(
        python, "" if result.get("ok") else str(result.get("error"))[:300], VLLM_VERSION
    )
