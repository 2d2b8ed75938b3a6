"""The wheel ships profiles/ and templates/ (as swissai/_data) and `swissai plan` works from it.

Builds the wheel from this checkout, installs it with --no-deps into a fresh virtual
environment without system site packages, and runs the installed `swissai` from a temporary
working directory (so neither the checkout nor the editable install can be found). The runtime
dependencies (typer, rich, pydantic, ...) are borrowed read-only from the interpreter running the
tests through a .pth file: directories named in a .pth file are appended to sys.path, but their
own .pth files (the editable install's path hook) are not processed, and the venv's own
site-packages, holding the wheel, comes first. This keeps the test offline except for the build
backend (hatchling), which pip fetches for the isolated build unless it is installed already.
"""

from __future__ import annotations

import importlib.util
import json
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NETWORK_HINTS = ("No matching distribution found", "Could not find a version", "NewConnectionError")


def _run(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _build_wheel(out: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        cmd.append("--no-build-isolation")
    proc = _run([*cmd, str(REPO)], cwd=REPO)
    if proc.returncode != 0:
        if any(hint in proc.stderr for hint in NETWORK_HINTS):
            pytest.skip(f"cannot fetch the build backend (offline?): {proc.stderr.strip()[-300:]}")
        pytest.fail(f"pip wheel failed:\n{proc.stdout}\n{proc.stderr}")
    wheels = sorted(out.glob("swissai-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _dependency_dirs() -> list[str]:
    dirs = [
        *site.getsitepackages(),
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    ]
    return sorted({d for d in dirs if Path(d).is_dir()})


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the built wheel installed; returns its bin directory."""
    root = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(root / "dist")
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    for required in (
        "swissai/_data/profiles/gpus/h100-80gb.yaml",
        "swissai/_data/profiles/models/gpt-oss-120b.yaml",
        "swissai/_data/profiles/models/configs/gpt-oss-120b.json",
        "swissai/cli/main.py",
        "swissai/py.typed",
    ):
        assert required in names, f"{required} is not in {wheel.name}"
    assert not any(n.startswith(("tests/", "profiles/")) for n in names)

    venv = root / "venv"
    proc = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=root)
    assert proc.returncode == 0, proc.stderr
    python = venv / "bin" / "python"
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=root
    ).stdout.strip()
    (Path(purelib) / "_swissai_test_deps.pth").write_text(
        "\n".join(_dependency_dirs()) + "\n", encoding="utf-8"
    )
    proc = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return venv / "bin"


@pytest.mark.slow
def test_swissai_is_imported_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    code = (
        "import json, swissai, swissai.resources as r;"
        "print(json.dumps([swissai.__file__, str(r.profiles_dir()), str(r.templates_dir())]))"
    )
    proc = _run([str(installed / "python"), "-c", code], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    module, profiles, templates = json.loads(proc.stdout)
    venv = str(installed.parent)
    assert module.startswith(venv), module
    assert not module.startswith(str(REPO))
    assert profiles.startswith(venv) and profiles.endswith("swissai/_data/profiles")
    assert templates.endswith("swissai/_data/templates")


@pytest.mark.slow
def test_installed_swissai_plans_from_packaged_profiles(installed: Path, tmp_path: Path) -> None:
    proc = _run(
        [str(installed / "swissai"), "plan", "--gpus", "8xh100-80gb", "-o", "json"], cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert plan["feasible"] is True
    assert plan["model"]["id"] == "gpt-oss-120b"
    assert "--tensor-parallel-size" in plan["vllm"]["args"]


@pytest.mark.slow
def test_installed_swissai_lists_the_packaged_catalog(installed: Path, tmp_path: Path) -> None:
    proc = _run([str(installed / "swissai"), "plan", "--list-models"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert {"gpt-oss-120b", "qwen3-235b-a22b-fp8"} <= set(proc.stdout.split())
    default = _run([str(installed / "swissai"), "plan", "-o", "json"], cwd=tmp_path)
    assert default.returncode in (0, 4), default.stderr
    assert json.loads(default.stdout)["kind"] == "ServePlan"


@pytest.mark.slow
def test_installed_swissai_renders_and_checks_from_packaged_templates(
    installed: Path, tmp_path: Path
) -> None:
    """init, render (plain and Helm) and check run from the wheel alone: the Jinja templates,
    the site template, the verifier script and the Helm chart files ship inside it."""
    swissai = str(installed / "swissai")
    assert _run([swissai, "init"], cwd=tmp_path).returncode == 0
    plan = _run([swissai, "plan", "--gpus", "8xh100-80gb", "--out", "plan.yaml"], cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    for extra, out in (([], "out"), (["--helm"], "chart")):
        proc = _run(
            [swissai, "render", "plan.yaml", "--site", "swissai.yaml", "--out", out, *extra],
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
    assert any((tmp_path / "out").glob("*deployment*.yaml"))
    assert (tmp_path / "chart" / "Chart.yaml").is_file()
    assert any((tmp_path / "chart" / "templates").iterdir())
    for shipped in ("templates/NOTES.txt", "templates/tests/test-smoke.yaml", "files/layout.json"):
        assert (tmp_path / "chart" / shipped).is_file(), shipped
    # init's all-zero digest and revision are high findings (SUP-001, SUP-003) until replaced
    check_args = ["check", "out", "--plan", "plan.yaml", "--site", "swissai.yaml"]
    check = _run([swissai, *check_args, "--fail-on", "critical"], cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.slow
def test_installed_swissai_sizes_and_costs_from_packaged_data(
    installed: Path, tmp_path: Path
) -> None:
    """profiles/calibration (measurements, fitted efficiency) and profiles/prices ship too."""
    swissai = str(installed / "swissai")
    size = _run([swissai, "size", "--users", "500", "--gpus", "h100-80gb", "-o", "json"], tmp_path)
    assert size.returncode == 0, size.stderr
    assert json.loads(size.stdout)["feasible"] is True
    cost = _run([swissai, "cost", "--users", "500", "--gpus", "h100-80gb", "-o", "json"], tmp_path)
    assert cost.returncode == 0, cost.stderr
    assert {o["kind"] for o in json.loads(cost.stdout)["options"]} == {"onprem", "api"}
