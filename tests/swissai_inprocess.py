"""Run `swissai` in this process through Typer's CliRunner: the same application object as the
console script (exit codes are mapped inside it, `swissai.cli.main.SwissaiGroup`), the same
stdout/stderr split, in milliseconds instead of a fresh interpreter per call.

`swissai(...)` returns a `subprocess.CompletedProcess` like `tests/swissai_process.swissai`, so
a test can move between the two tiers by its import alone. Use the subprocess helper where a
real process matters (signals, the entry point, a child process)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from typer.testing import CliRunner

from swissai.cli.main import app

REPO = Path(__file__).resolve().parents[1]


def swissai(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    columns: int = 100,
    timeout: int | None = None,  # accepted for the subprocess helper's signature
) -> subprocess.CompletedProcess[str]:
    del timeout
    full: dict[str, str | None] = {"SWISSAI_DEBUG": None, "COLUMNS": str(columns)}
    full.update(env or {})
    before = Path.cwd()
    os.chdir(cwd or REPO)
    try:
        result = CliRunner().invoke(app, list(args), input=stdin, env=full)
    finally:
        os.chdir(before)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # only with --debug: the app maps every error itself
    return subprocess.CompletedProcess(
        ["swissai", *args], result.exit_code, result.stdout, result.stderr
    )
