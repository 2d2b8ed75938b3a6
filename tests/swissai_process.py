"""Run the real `python -m swissai` in a child process, as users and CI pipelines do: exact
exit codes and the stdout/stderr split. SWISSAI_DEBUG is removed so errors print as users
see them; COLUMNS fixes the width of rich tables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def swissai(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    columns: int = 100,
    timeout: int = 180,
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "SWISSAI_DEBUG"}
    full.update(env or {})
    full["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "swissai", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd or REPO,
        env=full,
        input=stdin,
        check=False,
    )
