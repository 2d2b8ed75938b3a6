"""Every command reads plan files the same way (swissai.adapters.plan_file): keys added by a
newer swissai of the same apiVersion are dropped with a warning; another apiVersion, a wrong
kind or a wrong type is exit 2 with the key's path. Real processes, real files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.swissai_process import swissai


@pytest.fixture
def plan_data(tmp_path: Path) -> dict:
    assert swissai("plan", "--out", "plan.yaml", cwd=tmp_path).returncode == 0
    data: dict = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    return data


def _write(tmp_path: Path, data: dict) -> str:
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(data))
    return "p.yaml"


def test_keys_from_a_newer_swissai_are_ignored_with_a_warning(
    tmp_path: Path, plan_data: dict
) -> None:
    plan_data["added_by_v2"] = {"x": 1}
    plan_data["layout"]["new_layout_key"] = 3
    plan = _write(tmp_path, plan_data)
    assert swissai("init", cwd=tmp_path).returncode == 0
    rendered = swissai("render", plan, "--site", "swissai.yaml", "--out", "out", cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert "added_by_v2" in rendered.stderr and "layout.new_layout_key" in rendered.stderr
    dry = swissai("serve", plan, "--dry-run", "--model-dir", str(tmp_path), cwd=tmp_path)
    assert "ignoring added_by_v2" in dry.stderr.replace(f"{plan}: ", "")
    # init's all-zero digest and revision are high findings (SUP-001, SUP-003) until replaced
    checked = swissai(
        "check",
        "out",
        "--plan",
        plan,
        "--site",
        "swissai.yaml",
        "--fail-on",
        "critical",
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stderr
    assert "added_by_v2" in checked.stderr


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(apiVersion="swissai/v0"), "apiVersion 'swissai/v0'"),
        (lambda d: d.update(kind="Deployment"), "is not a ServePlan"),
        (lambda d: d["layout"].update(tensor_parallel_size="eight"), "layout.tensor_parallel_size"),
    ],
)
def test_foreign_or_broken_plans_are_exit_2_everywhere(
    tmp_path: Path, plan_data: dict, mutate: object, message: str
) -> None:
    mutate(plan_data)  # type: ignore[operator]
    plan = _write(tmp_path, plan_data)
    assert swissai("init", cwd=tmp_path).returncode == 0
    for args in (
        ("render", plan, "--site", "swissai.yaml", "--out", "out"),
        ("serve", plan, "--dry-run", "--model-dir", str(tmp_path)),
        ("check", "--plan", plan, "--site", "swissai.yaml"),
    ):
        result = swissai(*args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
