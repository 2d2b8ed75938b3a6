"""Inputs of the bundle tests: a small model directory with its sha256 manifest, a site profile
that pins that manifest, the render tests' plan, and a wheelhouse of real (minimal) wheels."""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from render_support import PLAN_SINGLE, site

from swissai.adapters.site import site_text
from swissai.services.model import write_manifest

FAKES = Path(__file__).parent / "fakes"
WEIGHTS = "model-00001-of-00002.safetensors"


@dataclass(frozen=True)
class Inputs:
    plan: Path
    site: Path
    model: Path
    wheels: Path


def _wheel(path: Path, name: str, version: str) -> None:
    """A minimal but real wheel (PEP 427): a module and its .dist-info with METADATA, WHEEL."""
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path / f"{name}-{version}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{name}/__init__.py", "")
        whl.writestr(
            f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        )
        whl.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr(f"{info}/RECORD", "")


def make_inputs(root: Path, weights_bytes: int = 3 * 2**20) -> Inputs:
    model = root / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"model_type": "llama"}\n')
    (model / WEIGHTS).write_bytes(os.urandom(weights_bytes))
    (model / "model-00002-of-00002.safetensors").write_bytes(os.urandom(weights_bytes // 3))
    (model / "tokenizer.json").write_text('{"version": "1.0"}\n')
    pinned = write_manifest(model).sha256
    site_file = root / "swissai.yaml"
    site_file.write_text(site_text(site(model={"manifest_sha256": pinned})))
    plan = root / "plan.yaml"
    shutil.copyfile(PLAN_SINGLE, plan)
    wheels = root / "wheelhouse"
    wheels.mkdir()
    _wheel(wheels, "swissai", "0.1.0")
    _wheel(wheels, "typer", "0.28.0")
    return Inputs(plan, site_file, model, wheels)


def fake_tool_path(root: Path, tool: str) -> str:
    """A PATH whose first entry holds `tool` (skopeo or crane), the stand-in of
    tests/fakes/fake_image_tool.py run by this Python; the rest of PATH is the system's only,
    so the other tool is absent."""
    bin_dir = root / f"fake-{tool}"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / tool
    fake = shlex.quote(str(FAKES / "fake_image_tool.py"))
    script.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {fake} {tool} "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin"
