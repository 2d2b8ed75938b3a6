"""Inputs are validated before the environment is touched (ARCHITECTURE.md), and a target the
hardware cannot reach is said out loud."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.swissai_inprocess import swissai


def test_bad_option_is_exit_2_before_any_gpu_probe() -> None:
    result = swissai("plan", "--gpu-memory-utilization", "1.5")
    assert result.returncode == 2
    assert "must be in (0, 1]" in result.stderr
    # the probe would have said "no GPU found ... embedded default" first
    assert "no GPU found" not in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_concurrency_target_is_a_warning() -> None:
    result = swissai("plan", "--gpus", "8xh100-80gb", "--concurrency", "500", "-o", "json")
    assert result.returncode == 0
    plan = json.loads(result.stdout)
    assert plan["served_concurrency"] < 500
    assert any("no layout reaches the target of 500" in w for w in plan["warnings"])


def test_reachable_target_gives_no_such_warning() -> None:
    result = swissai("plan", "--gpus", "8xh100-80gb", "--concurrency", "10", "-o", "json")
    plan = json.loads(result.stdout)
    assert plan["served_concurrency"] >= 10
    assert not any("no layout reaches" in w for w in plan["warnings"])


def test_table_shows_names_with_brackets_verbatim(tmp_path: Path) -> None:
    """Model ids come from user paths; rich must not read '[model]' as markup."""
    model = tmp_path / "my[model]"
    model.mkdir()
    source = Path(__file__).resolve().parents[2] / "profiles" / "models" / "configs"
    shutil.copy(source / "gpt-oss-20b.json", model / "config.json")
    result = swissai("plan", "--model", str(model), "--gpus", "1xh100-80gb")
    assert result.returncode == 0, result.stderr
    assert "my[model]" in result.stdout
    assert "from spec" in result.stdout
