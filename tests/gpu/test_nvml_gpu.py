"""The NVML adapter against the real library, on a machine with NVIDIA GPUs (marker `gpu`).

Elsewhere (a laptop, CI) every test here is skipped with the reason NVML gave. Run the tier with
`pytest -m gpu tests/gpu`. Where `nvidia-smi` exists, its answers are the independent reference.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from swissai.adapters.inventory import parse_inventory
from swissai.adapters.nvml import read_inventory
from swissai.adapters.profiles import load_gpu, load_model
from swissai.cli.main import app
from swissai.cli.output import to_document
from swissai.core.gpu_inventory import hardware_from_inventory
from swissai.core.planner import PlanRequest, make_plan
from swissai.models.inventory import GpuInventory

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def real_nvml() -> Iterator[Any]:
    pynvml = pytest.importorskip("pynvml", reason="nvidia-ml-py is not installed")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        pytest.skip(f"no NVIDIA GPU here: NVML cannot start ({exc})")
    try:
        count = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()
    if count == 0:
        pytest.skip("NVML runs but reports no GPU")
    yield pynvml


@pytest.fixture(scope="module")
def inventory(real_nvml: Any) -> GpuInventory:
    return read_inventory(real_nvml)


def _nvidia_smi(query: str) -> list[list[str]]:
    if shutil.which("nvidia-smi") is None:
        pytest.skip("nvidia-smi is not on PATH: no independent reference")
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [[c.strip() for c in line.split(",")] for line in out.strip().splitlines()]


def test_every_gpu_is_read(real_nvml: Any, inventory: GpuInventory) -> None:
    real_nvml.nvmlInit()
    try:
        count = real_nvml.nvmlDeviceGetCount()
    finally:
        real_nvml.nvmlShutdown()
    assert len(inventory.gpus) == count
    for gpu in inventory.gpus:
        assert gpu.uuid.startswith("GPU-")
        assert gpu.memory_total_bytes > 8 * 1024**3
        assert gpu.memory_free_bytes is not None and gpu.memory_used_bytes is not None
        parts = gpu.memory_free_bytes + gpu.memory_used_bytes + (gpu.memory_reserved_bytes or 0)
        assert abs(parts - gpu.memory_total_bytes) <= 64 * 1024**2
        assert gpu.compute_capability is not None
        assert re.fullmatch(r"\d+\.\d+", gpu.compute_capability)
        assert gpu.pci_bus_id is not None and re.fullmatch(
            r"[0-9A-Fa-f]{8}:[0-9A-Fa-f]{2}:.*", gpu.pci_bus_id
        )
    assert inventory.driver_version is not None
    assert inventory.cuda_driver_version is not None


def test_agrees_with_nvidia_smi(inventory: GpuInventory) -> None:
    rows = _nvidia_smi("index,uuid,name,memory.total,pci.bus_id,compute_cap")
    assert len(rows) == len(inventory.gpus)
    for row, gpu in zip(rows, inventory.gpus, strict=True):
        index, uuid, name, mib, bus, cc = row
        assert (int(index), uuid, name) == (gpu.index, gpu.uuid, gpu.name)
        assert int(mib) == gpu.memory_total_bytes // 1024**2
        assert bus.lower() == (gpu.pci_bus_id or "").lower()
        assert cc == gpu.compute_capability


def test_topology_matrix_is_square_with_x_on_the_diagonal(inventory: GpuInventory) -> None:
    n = len(inventory.gpus)
    matrix = inventory.topology.matrix
    assert len(matrix) == n and all(len(row) == n for row in matrix)
    for i in range(n):
        assert matrix[i][i] == "X"
        for j in range(n):
            assert matrix[i][j] == matrix[j][i]
            if i != j:
                assert re.fullmatch(r"NV\d+|PIX|PXB|PHB|NODE|SYS|\?", matrix[i][j])


def test_snapshot_round_trips_and_plans(inventory: GpuInventory) -> None:
    again = parse_inventory(json.loads(to_document(inventory, "json")), "probe")
    assert again == inventory
    hardware = hardware_from_inventory(again, load_gpu)
    assert hardware.total_gpus >= 1
    plan = make_plan(PlanRequest(model=load_model("llama-3.1-8b-instruct"), hardware=hardware))
    assert plan.hardware.source == "inventory"
    assert plan.layout.tensor_parallel_size >= 1
    assert plan.memory_per_gpu_gib.total > 8


def test_cli_probe_json_on_the_real_gpus(real_nvml: Any) -> None:
    result = CliRunner().invoke(app, ["probe", "-o", "json"])
    assert result.exit_code == 0, result.output
    inventory = GpuInventory.model_validate(json.loads(result.stdout))
    assert inventory.gpus
