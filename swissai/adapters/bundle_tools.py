"""External tools of air-gap bundles: a container image tool (skopeo or crane) when one is on
PATH, and pip for swissai's own wheel and its dependency wheels.

pip runs as `python -m pip wheel` with the Python running swissai, so it uses that Python's pip
configuration: the bank's package mirror (index-url / find-links in pip.conf), never a source
swissai chooses. Nothing here decides what goes into a bundle (services/bundle does).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

from swissai.errors import EnvironmentProblem

IMAGE_TOOLS = ("skopeo", "crane")
PIP_TIMEOUT_S = 1800.0
IMAGE_TIMEOUT_S = 3600.0


def image_tool() -> str:
    """'skopeo' or 'crane' when on PATH (skopeo first: it writes oci-archive directly), else
    'none'."""
    for tool in IMAGE_TOOLS:
        if shutil.which(tool):
            return tool
    return "none"


def run_tool(argv: list[str], cwd: Path, timeout_s: float = IMAGE_TIMEOUT_S) -> None:
    """Run a command in `cwd`; exit 3 with its last error line when it fails or cannot run."""
    try:
        proc = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"{argv[0]} could not run: {exc}") from exc
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        raise EnvironmentProblem(
            f"{' '.join(argv[:3])} failed (exit {proc.returncode}): "
            f"{lines[-1][:300] if lines else 'no output'}",
            hint="check the registry and the tool's credentials, or run the commands in "
            "images/commands.sh by hand",
        )


def swissai_source() -> str:
    """What pip should build swissai from: this checkout when swissai is installed from one
    (PEP 610 direct_url.json, `pip install -e .` or `pip install .`), else the released
    `swissai==VERSION` from the package mirror."""
    try:
        dist = metadata.distribution("swissai")
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        text = dist.read_text("direct_url.json")
        if text:
            url = json.loads(text).get("url", "")
            parts = urlsplit(url)
            if parts.scheme == "file" and Path(unquote(parts.path)).is_dir():
                return unquote(parts.path)
        return f"swissai=={dist.version}"
    from swissai import __version__

    return f"swissai=={__version__}"


def build_wheels(source: str, dest: Path, timeout_s: float = PIP_TIMEOUT_S) -> list[Path]:
    """`python -m pip wheel --wheel-dir DEST SOURCE`: swissai's wheel and a wheel of every
    runtime dependency, from the configured mirror. Exit 3 naming pip's error."""
    dest.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(dest), source]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"pip wheel could not run: {exc}") from exc
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        raise EnvironmentProblem(
            f"pip wheel {source} failed: {lines[-1][:300] if lines else 'no output'}",
            hint="check the package mirror in pip.conf, or pass --wheels DIR with wheels "
            "built beforehand (pip wheel -w DIR swissai)",
        )
    return sorted(dest.glob("*.whl"))


def creator() -> str:
    """user@host for the bundle's creation record."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container with a random UID)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
