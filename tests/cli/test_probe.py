"""`swissai probe` and `swissai plan` without --gpus, through the CLI.

The fake stands in for the pynvml *module* (sys.modules), exactly where the real library would
be; nothing inside swissai is patched. Errors go through `swissai.cli.main.run`, the console
script's entry point and the one place that maps them to exit codes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from fakes.fake_pynvml import FakePynvml, load_machine
from typer.testing import CliRunner, Result

from swissai.cli.main import app, run
from swissai.models.inventory import GpuInventory
from swissai.models.plan import ServePlan

runner = CliRunner()


@pytest.fixture
def nvml(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Install a fake pynvml for one machine: nvml("dgx-h100") -> the fake."""

    def install(machine: str | None) -> FakePynvml:
        fake = (
            FakePynvml.library_missing() if machine is None else FakePynvml(load_machine(machine))
        )
        monkeypatch.setitem(sys.modules, "pynvml", fake)
        return fake

    return install


def swissai(*args: str) -> Result:
    return runner.invoke(app, list(args))


def swissai_run(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """Run the console script's entry point: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["swissai", *args])
    with runner.isolation() as (out, err, _):
        try:
            run()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()


# --- probe --------------------------------------------------------------------------------------


def test_probe_table_shows_gpus_and_topology(nvml) -> None:  # type: ignore[no-untyped-def]
    nvml("a100-pcie-nvlink-pairs")
    result = swissai("probe")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "A100 80GB PCIe" in out and "a100-80gb" in out
    assert out.count("NV12") == 4  # the 4x4 matrix: two pairs, both directions
    assert "NVLink     [0,1] [2,3]" in out
    assert "plans for  4xa100-80gb; TP up to 2 stays on NVLink" in out
    assert "570.124.06 (CUDA 12.8, NVML 12.570.124.06)" in out
    # the driver is too old for the default image: a warning, on stderr only
    assert result.stderr.startswith(
        "warning: driver 570.124.06 (CUDA 12.8) is too old for the vLLM 0.33.0 image"
    )
    assert "warning" not in out


def test_probe_shows_not_supported_as_na(nvml) -> None:  # type: ignore[no-untyped-def]
    nvml("mixed-a100-v100")
    result = swissai("probe")
    assert result.exit_code == 0
    v100_row = next(line for line in result.stdout.splitlines() if "│2 " in line)
    assert "none" in v100_row and "7.0" in v100_row and "n/a" in v100_row  # no profile, no MIG
    assert "n/a: NVML does not support the field on this GPU" in result.stdout
    warnings = result.stderr.splitlines()
    assert warnings[0] == (
        "warning: GPUs 2, 3 ('Tesla V100-PCIE-32GB') match no swissai GPU profile: planned from "
        "NVML (31.71 GiB, compute capability 7.0, ~898 GB/s); figures not observed in a vLLM log"
    )
    assert (
        "warning: GPUs 2, 3 (Tesla V100-PCIE-32GB): compute capability 7.0 is below 8.0: "
        "vLLM cannot run MXFP4 models (gpt-oss) on them" in warnings
    )


def test_probe_json_is_exactly_one_document(nvml) -> None:  # type: ignore[no-untyped-def]
    nvml("dgx-h100")
    result = swissai("probe", "-o", "json")
    assert result.exit_code == 0
    inventory = GpuInventory.model_validate(json.loads(result.stdout))
    assert len(inventory.gpus) == 8
    assert inventory.topology.matrix[0][7] == "NV18"
    assert result.stderr == ""  # driver R575 (CUDA 12.9) fits the default image


def test_probe_mig_machine_lists_instances(nvml) -> None:  # type: ignore[no-untyped-def]
    nvml("h100-pcie-mig")
    result = swissai("probe")
    assert result.exit_code == 0
    assert "GPU0 MIG 0: 3g.40gb 0.0 / 39.2 GiB (GI 2)" in result.stdout
    assert "GPU0 pid 48213 python3: n/a on MIG GI 9" in result.stdout
    assert "on (4)" in result.stdout
    assert result.stderr == (
        "warning: GPU 0 is in MIG mode (instances: 3g.40gb, 2g.20gb, 1g.10gb, 1g.10gb): planned "
        "as one 39.25 GiB instance, TP 1; each other instance can run its own replica\n"
    )


def test_probe_vllm_version_changes_the_driver_check(nvml) -> None:  # type: ignore[no-untyped-def]
    nvml("a100-pcie-nvlink-pairs")
    assert swissai("probe", "-o", "yaml", "--vllm-version", "0.11.0").stderr == ""
    result = swissai("probe", "-o", "yaml", "--vllm-version", "0.11.1")
    assert "the vLLM 0.11.1 image, built on CUDA 12.9: it needs driver >= 575.51.03" in (
        result.stderr
    )
    assert yaml.safe_load(result.stdout)["kind"] == "GpuInventory"


def test_probe_out_snapshot_plans_on_a_machine_without_gpu(
    nvml,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    nvml("a100-pcie-nvlink-pairs")
    snapshot = tmp_path / "inventory.yaml"
    result = swissai("probe", "-o", "json", "--out", str(snapshot))
    assert result.exit_code == 0
    assert f"wrote {snapshot}" in result.stderr
    assert yaml.safe_load(snapshot.read_text())["topology"]["matrix"][0][1] == "NV12"
    # the workstation: no NVML at all
    laptop = nvml(None)
    planned = swissai("plan", "--inventory", str(snapshot), "-o", "json")
    assert planned.exit_code == 0, planned.output
    result_plan = ServePlan.model_validate(json.loads(planned.stdout))
    assert result_plan.hardware.source == "inventory"
    assert result_plan.layout.tensor_parallel_size == 2  # inside an NVLink pair
    assert laptop.calls == []  # --inventory never touches NVML


def test_probe_without_nvml_exits_3_with_a_hint(nvml, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    nvml(None)
    code, out, err = swissai_run(monkeypatch, "probe")
    assert code == 3
    assert out == ""
    assert err == (
        "error: NVML is not available: NVML Shared Library Not Found\n"
        "hint: no NVIDIA driver here (libnvidia-ml.so.1 not found); run `swissai probe` on the "
        "GPU server (NVIDIA driver installed), or plan here with --gpus COUNTxID or "
        "--inventory FILE\n"
    )


def test_probe_bad_output_is_exit_2_before_nvml(nvml, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    fake = nvml("dgx-h100")
    code, _, err = swissai_run(monkeypatch, "probe", "-o", "xml")
    assert code == 2
    assert err == (
        "error: Invalid value for '--output' / '-o': 'xml' is not one of 'table', 'json', "
        "'yaml'.\nhint: see `swissai probe --help`\n"
    )
    code, _, err = swissai_run(monkeypatch, "probe", "--vllm-version", "banana")
    assert code == 2
    assert err.startswith("error: --vllm-version: 'banana' is not a version like 0.11.0\n")
    assert fake.calls == []


# --- plan without --gpus ----------------------------------------------------------------------


def test_plan_without_nvml_falls_back_to_the_default_in_one_line(nvml) -> None:  # type: ignore[no-untyped-def]
    nvml(None)
    result = swissai("plan", "-o", "json")
    assert result.exit_code == 0
    assert result.stderr == (
        "no GPU found (NVML is not available: NVML Shared Library Not Found): planning for the "
        "embedded default 8xh100-80gb (one node); use --gpus or --inventory to choose\n"
    )
    assert ServePlan.model_validate(json.loads(result.stdout)).hardware.source == "default"


def test_plan_probes_the_local_gpus(nvml) -> None:  # type: ignore[no-untyped-def]
    fake = nvml("l40s-pcie")
    result = swissai("plan", "--model", "gpt-oss-20b", "-o", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr == "planning for the local GPUs: 2xl40s-48gb\n"
    plan = ServePlan.model_validate(json.loads(result.stdout))
    assert plan.hardware.source == "probe"
    assert [(g.id, g.count) for g in plan.hardware.gpus] == [("l40s-48gb", 2)]
    assert any(
        w.startswith("driver 535.183.01 (CUDA 12.2) is too old for the vLLM 0.33.0 image")
        for w in plan.warnings
    )
    assert not fake.initialized  # NVML shut down again


def test_plan_table_repeats_probe_findings_as_warnings(nvml) -> None:  # type: ignore[no-untyped-def]
    nvml("h100-pcie-mig")
    result = swissai("plan", "--model", "gpt-oss-20b")
    assert result.exit_code == 0
    flat = " ".join(result.stdout.split())
    assert "warning: GPU 0 is in MIG mode" in flat


def test_plan_inventory_with_a_bad_key_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "inventory.yaml"
    path.write_text(
        "apiVersion: swissai/v1alpha1\nkind: GpuInventory\nhost: h\n"
        "gpus:\n- index: 0\n  name: NVIDIA L40S\n  uuid: GPU-1\n  profile_id: l40s-48gb\n"
        "  memory_total_bytes: 48305799168\n  fan: 30\n",
        encoding="utf-8",
    )
    code, out, err = swissai_run(monkeypatch, "plan", "--inventory", str(path), "-o", "json")
    assert code == 2
    assert out == ""
    assert err.startswith(f"error: {path}: gpus.0.fan: Extra inputs are not permitted\n")


# --- start-up cost ----------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["probe", "--help"]])
def test_help_does_not_import_pynvml(args: list[str]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['swissai', *{args!r}]\n"
        "from swissai.cli.main import run\n"
        "try:\n    run()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pynvml', 'kubernetes', 'jinja2') if m in sys.modules]\n"
        "sys.stderr.write(repr(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stderr == "[]"
    assert "probe" in proc.stdout
