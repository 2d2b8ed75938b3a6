"""GPU coverage of issue 15: the shipped profiles people run (T4 ... MI355X) plan end to end, and
`--gpu-profile FILE` plans a GPU swissai does not ship, validated (exit 2 on nonsense)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from swissai.adapters.profiles import list_gpu_ids, load_gpu
from swissai.cli.main import app

NEW_IDS = [
    "t4-16gb",
    "a10-24gb",
    "a10g-24gb",
    "l40-48gb",
    "a6000-48gb",
    "rtx6000-ada-48gb",
    "rtx5090-32gb",
    "gb10-128gb",
    "gb200-186gb",
    "b300-288gb",
    "mi325x-256gb",
    "mi355x-288gb",
]


def run(*args: str) -> tuple[int, dict[str, object] | str]:
    result = CliRunner().invoke(app, ["plan", *args, "-o", "json"])
    if result.exit_code in (0, 4):
        return result.exit_code, json.loads(result.stdout)
    return result.exit_code, result.output


@pytest.mark.parametrize("gpu_id", NEW_IDS)
def test_shipped_profile_is_sane_and_plans(gpu_id: str) -> None:
    from swissai.core.hardware import validate_gpu_profile

    assert gpu_id in list_gpu_ids()
    gpu = load_gpu(gpu_id)
    validate_gpu_profile(gpu, gpu_id)  # the shipped ones pass the user-profile checks too
    assert gpu.sources, "every figure cites a source"
    code, plan = run("--model", "llama-3.1-8b-instruct", "--gpus", f"1x{gpu_id}")
    assert code in (0, 4)
    assert isinstance(plan, dict)
    assert plan["memory_per_gpu_gib"]["total"] == pytest.approx(gpu.memory_total_gib, abs=0.01)


def test_t4_cannot_run_mxfp4_or_fp8() -> None:
    code, out = run("--model", "gpt-oss-20b", "--gpus", "1xt4-16gb")
    assert code == 2 and "MXFP4" in str(out)
    code, out = run("--model", "llama-3.3-70b-instruct-fp8-dynamic", "--gpus", "4xt4-16gb")
    assert code == 2 and "FP8" in str(out)


def test_gpt_oss_kernels_on_new_blackwell_parts() -> None:
    _, b300 = run("--model", "gpt-oss-120b", "--gpus", "1xb300-288gb")
    _, spark = run("--model", "gpt-oss-120b", "--gpus", "1xgb10-128gb")
    assert isinstance(b300, dict) and isinstance(spark, dict)
    assert b300["vllm"]["moe_backend"] == "flashinfer"  # SM103: data-centre Blackwell
    assert spark["vllm"]["moe_backend"] == "marlin"  # SM121: GB10 takes the Marlin path


def _profile(tmp_path: Path, **changes: object) -> Path:
    data = yaml.safe_load((Path(__file__).parents[2] / "profiles/gpus/l40s-48gb.yaml").read_text())
    data.update({"id": "acme-x1-48gb", "name": "ACME X1", "nvml_names": []})
    data.update(changes)
    path = tmp_path / "acme.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_user_gpu_profile_plans(tmp_path: Path) -> None:
    path = _profile(tmp_path)
    code, plan = run(
        "--gpu-profile", str(path), "--gpus", "2xacme-x1-48gb", "--model", "llama-3.1-8b-instruct"
    )
    assert code == 0 and isinstance(plan, dict)
    assert plan["hardware"]["gpus"] == [{"id": "acme-x1-48gb", "count": 2}]
    # without --gpus: one node of the profile
    code, plan = run("--gpu-profile", str(path), "--model", "llama-3.1-8b-instruct")
    assert code == 0 and isinstance(plan, dict)
    assert plan["hardware"]["gpus"][0]["count"] == 8


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"memory_total_gib": 80.0}, "does not match"),
        ({"memory_total_gib": -1.0}, "does not match"),
        ({"compute_capability": "6.1"}, "7.0 or newer"),
        ({"compute_capability": "nine"}, "major.minor"),
        ({"memory_bandwidth_gb_s": 0}, "memory_bandwidth_gb_s"),
        ({"id": "l40s-48gb"}, "shipped profile"),
        ({"id": "../etc"}, "not a GPU id"),
        ({"nvlink_domain_size": 0}, "nvlink_domain_size"),
    ],
)
def test_user_gpu_profile_is_validated(
    tmp_path: Path, changes: dict[str, object], words: str
) -> None:
    code, out = run(
        "--gpu-profile", str(_profile(tmp_path, **changes)), "--model", "llama-3.1-8b-instruct"
    )
    assert code == 2, out
    assert words in str(out)
    assert "Traceback" not in str(out)


def test_missing_gpu_profile_file_is_exit_2(tmp_path: Path) -> None:
    code, out = run("--gpu-profile", str(tmp_path / "none.yaml"))
    assert code == 2 and "no such file" in str(out)
