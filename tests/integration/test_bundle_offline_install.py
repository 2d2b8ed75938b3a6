"""The air-gap path end to end with real parts: `swissai bundle create` runs the real `pip
wheel` against this machine's package mirror (pip.conf; on CI, PyPI) for swissai's own wheel and
every runtime dependency; on the "inside", `bundle verify` checks it, and a fresh virtual
environment installs swissai from the bundle's wheels alone (`pip install --no-index`), whose
`swissai bundle verify` accepts the bundle too. Nothing is mocked; the only network is pip's
mirror on the outside, as in a bank."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bundle_support import make_inputs

from tests.swissai_inprocess import swissai


@pytest.mark.slow
def test_bundle_wheels_install_offline_and_verify(tmp_path: Path) -> None:
    inputs = make_inputs(tmp_path / "in")
    out = tmp_path / "bundle"
    created = swissai(
        "bundle", "create", str(inputs.plan), "--site", str(inputs.site),
        "--model-dir", str(inputs.model), "--out", str(out), "-o", "json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    doc = json.loads(created.stdout)
    wheels = set(doc["wheels"])
    assert any(w.startswith("swissai-") for w in wheels)
    for dep in ("pydantic", "typer", "rich", "PyYAML", "jinja2", "kubernetes"):
        prefix = dep.lower().replace("-", "_") + "-"
        assert any(w.lower().startswith(prefix) for w in wheels), (dep, sorted(wheels))

    venv = tmp_path / "inside-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index",
         "--find-links", str(out / "wheels"), "swissai"],
        capture_output=True, text=True, timeout=600, env={"PATH": "/usr/bin:/bin",
                                                         "PIP_CONFIG_FILE": "/dev/null"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    verify = subprocess.run(
        [str(venv / "bin" / "swissai"), "bundle", "verify", str(out),
         "--sha256", doc["bundle_sha256"], "--plan", str(inputs.plan), "-o", "json"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    result = json.loads(verify.stdout)
    assert result["ok"] is True and result["problems"] == []
