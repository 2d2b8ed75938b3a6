"""GpuInventory snapshots: strict validation with key paths (exit 2), the mapping to planner
Hardware (profiles, NVLink domains, MIG, unknown GPUs) and the probe's findings."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes.fake_pynvml import FakePynvml, load_machine

from swissai.adapters.inventory import (
    hardware_from_inventory_file,
    parse_inventory,
    read_inventory_file,
)
from swissai.adapters.nvml import read_inventory
from swissai.adapters.profiles import list_gpu_ids, load_gpu
from swissai.cli.output import to_document
from swissai.core.gpu_inventory import (
    driver_finding,
    hardware_from_inventory,
    match_profile,
    nvlink_domain_size,
)
from swissai.core.vllm_versions import parse_version
from swissai.errors import EXIT_USAGE, InputError
from swissai.models.inventory import GpuInventory

NOW = datetime(2025, 6, 2, 9, 30, tzinfo=timezone.utc)
GIB = 1024**3
PROFILES = [load_gpu(g) for g in list_gpu_ids()]


def probed(machine: str | dict[str, Any]) -> GpuInventory:
    data = load_machine(machine) if isinstance(machine, str) else machine
    return read_inventory(FakePynvml(data), host="gpu-host", now=NOW, profiles=PROFILES)


def snapshot(machine: str = "a100-pcie-nvlink-pairs") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(to_document(probed(machine), "yaml"))
    return data


# --- the snapshot file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "machine",
    ["dgx-h100", "a100-pcie-nvlink-pairs", "l40s-pcie", "h100-pcie-mig", "mixed-a100-v100"],
)
def test_snapshot_round_trips_through_yaml_and_json(machine: str, tmp_path: Path) -> None:
    inv = probed(machine)
    for suffix, fmt in ((".yaml", "yaml"), (".json", "json")):
        path = tmp_path / f"inventory{suffix}"
        path.write_text(to_document(inv, fmt), encoding="utf-8")
        assert read_inventory_file(path) == inv


def test_snapshot_keys_are_the_contract() -> None:
    data = snapshot()
    assert data["apiVersion"] == "swissai/v1alpha1"
    assert data["kind"] == "GpuInventory"
    assert {"host", "driver_version", "cuda_driver_version", "gpus", "topology"} <= set(data)
    gpu = data["gpus"][0]
    for key in (
        "name",
        "uuid",
        "pci_bus_id",
        "profile_id",
        "memory_total_bytes",
        "memory_used_bytes",
        "memory_free_bytes",
        "compute_capability",
        "mig_enabled",
        "mig_instances",
        "ecc_enabled",
        "power_limit_watts",
        "persistence_mode",
        "processes",
    ):
        assert key in gpu
    assert data["topology"]["matrix"][0] == ["X", "NV12", "SYS", "SYS"]


def _error_for(data: dict[str, Any]) -> InputError:
    with pytest.raises(InputError) as info:
        parse_inventory(data, "inventory.yaml")
    assert info.value.exit_code == EXIT_USAGE
    return info.value


def test_unknown_key_names_its_path() -> None:
    data = snapshot()
    data["gpus"][1]["colour"] = "green"
    err = _error_for(data)
    assert err.message == "inventory.yaml: gpus.1.colour: Extra inputs are not permitted"
    assert err.hint == "create one with `swissai probe --out inventory.yaml` on the GPU server"


def test_wrong_type_is_not_coerced() -> None:
    data = snapshot()
    data["gpus"][0]["memory_total_bytes"] = "85899345920"
    err = _error_for(data)
    assert err.message == (
        "inventory.yaml: gpus.0.memory_total_bytes: Input should be a valid integer"
    )
    data = snapshot()
    data["gpus"][2]["ecc_enabled"] = "yes"
    assert _error_for(data).message.startswith("inventory.yaml: gpus.2.ecc_enabled: ")
    data = snapshot()
    data["topology"]["links"][0]["nvlink_links"] = 1.5
    assert _error_for(data).message.startswith(
        "inventory.yaml: topology.links.0.nvlink_links: Input should be a valid integer"
    )


def test_wrong_kind_version_and_shape_are_refused() -> None:
    data = snapshot()
    data["kind"] = "ServePlan"
    assert _error_for(data).message == "inventory.yaml: kind is 'ServePlan', not GpuInventory"
    data = snapshot()
    data["apiVersion"] = "swissai/v0"
    assert "apiVersion 'swissai/v0' is not swissai/v1alpha1" in _error_for(data).message
    data = snapshot()
    data["topology"]["matrix"] = data["topology"]["matrix"][:3]
    assert "topology.matrix must be 4 x 4" in _error_for(data).message
    data = snapshot()
    data["gpus"] = []
    assert "gpus: List should have at least 1 item" in _error_for(data).message
    with pytest.raises(InputError, match="not a GpuInventory snapshot"):
        parse_inventory(["a", "list"], "inventory.yaml")


def test_unknown_profile_id_names_its_path(tmp_path: Path) -> None:
    data = snapshot()
    data["gpus"][3]["profile_id"] = "a100-81gb"
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(InputError) as info:
        hardware_from_inventory_file(path)
    assert info.value.message == f"{path}: gpus.3.profile_id: unknown GPU id 'a100-81gb'"


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read inventory"):
        read_inventory_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("gpus: [\n", encoding="utf-8")
    with pytest.raises(InputError, match="is not valid yaml"):
        read_inventory_file(bad)


# --- profiles ---------------------------------------------------------------------------------


def test_profile_matching_needs_name_and_memory() -> None:
    assert match_profile("NVIDIA H100 80GB HBM3", 85520809984, PROFILES) == "h100-80gb"
    assert match_profile("nvidia h100 pcie", 85520809984, PROFILES) == "h100-pcie-80gb"
    assert match_profile("NVIDIA A100 80GB PCIe", 85899345920, PROFILES) == "a100-80gb"
    # the name of an 80 GB card reporting 40 GiB is not that card
    assert match_profile("NVIDIA A100 80GB PCIe", 40 * GIB, PROFILES) is None
    assert match_profile("Tesla V100-PCIE-32GB", 32 * GIB, PROFILES) is None


# --- hardware for the planner ---------------------------------------------------------------


def test_nvlink_domain_comes_from_the_measured_topology() -> None:
    lookup = load_gpu
    assert hardware_from_inventory(probed("dgx-h100"), lookup).nvlink_domain_size == 8
    pairs = hardware_from_inventory(probed("a100-pcie-nvlink-pairs"), lookup)
    assert pairs.nvlink_domain_size == 2  # not the a100-80gb profile's SXM value 8
    assert load_gpu("a100-80gb").nvlink_domain_size == 8
    assert hardware_from_inventory(probed("l40s-pcie"), lookup).nvlink_domain_size == 1


def test_topology_without_nvlink_answers_leaves_the_profile_value() -> None:
    data = snapshot("dgx-h100")
    data["topology"] = {"matrix": [], "links": []}
    inv = parse_inventory(data, "x")
    assert nvlink_domain_size(inv, list(range(8))) is None
    assert hardware_from_inventory(inv, load_gpu).nvlink_domain_size is None


def test_mig_gpu_plans_as_its_largest_instance() -> None:
    hardware = hardware_from_inventory(probed("h100-pcie-mig"), load_gpu)
    (group,) = hardware.groups
    assert group.count == 1
    assert group.gpu.id == "h100-pcie-80gb-mig-3g.40gb"
    assert group.gpu.memory_total_gib == pytest.approx(42144366592 / GIB, abs=0.01)
    assert group.gpu.compute_capability == "9.0"
    assert hardware.nvlink_domain_size == 1
    assert hardware.warnings == [
        "GPU 0 is in MIG mode (instances: 3g.40gb, 2g.20gb, 1g.10gb, 1g.10gb): planned as one "
        "39.25 GiB instance, TP 1; each other instance can run its own replica"
    ]


def test_mixed_machine_plans_unknown_gpus_from_nvml_with_warnings() -> None:
    hardware = hardware_from_inventory(probed("mixed-a100-v100"), load_gpu)
    assert hardware.spec == "2xa100-40gb,2xtesla-v100-pcie-32gb"
    v100 = next(g.gpu for g in hardware.groups if g.gpu.id == "tesla-v100-pcie-32gb")
    assert v100.compute_capability == "7.0"
    assert v100.arch == "Volta"
    assert v100.memory_bandwidth_gb_s == pytest.approx(898.0, abs=0.1)
    assert v100.memory_total_gib == pytest.approx((34359738368 - 309329920) / GIB, abs=0.01)
    assert v100.memory_total_observed is False
    assert hardware.warnings == [
        "GPUs 2, 3 ('Tesla V100-PCIE-32GB') match no swissai GPU profile: planned from NVML "
        "(31.71 GiB, compute capability 7.0, ~898 GB/s); figures not observed in a vLLM log",
        "GPUs 2, 3 (Tesla V100-PCIE-32GB): compute capability 7.0 is below 8.0: vLLM cannot "
        "run MXFP4 models (gpt-oss) on them",
        "GPU 3 (GPU-4d5e6f70-8192-4d0e-1f2a-3b4c5d6e7f43): 2 uncorrected ECC error(s) since "
        "the driver loaded: check the GPU (nvidia-smi -q -d ECC) before serving",
    ]


def _with_process(machine: dict[str, Any], index: int, gib: float) -> dict[str, Any]:
    gpu = machine["gpus"][index]
    used = int(gib * GIB)
    gpu["memory"] = {**gpu["memory"], "used": used}
    gpu["processes"] = [{"pid": 7731, "name": "python3", "used_bytes": used}]
    return machine


def test_memory_held_by_another_process_is_a_finding() -> None:
    inv = probed(_with_process(load_machine("dgx-h100"), 3, 30.0))
    hardware = hardware_from_inventory(inv, load_gpu)
    assert hardware.memory_used_gib_max == pytest.approx(30.0)
    assert hardware.warnings == [
        "GPU 3 (NVIDIA H100 80GB HBM3): 30.0 GiB held by other processes (pid 7731 python3 "
        "30.0 GiB); free 49.2 GiB is below vLLM's default budget 71.3 GiB (0.9 x 79.18 GiB), "
        "so gpu_memory_utilization must come down"
    ]


def test_a_few_gib_held_is_not_a_finding_and_the_drivers_own_memory_is_ignored() -> None:
    hardware = hardware_from_inventory(
        probed(_with_process(load_machine("dgx-h100"), 0, 4.0)), load_gpu
    )
    assert hardware.warnings == []  # 75 GiB free >= 0.9 x 79.18 GiB
    assert hardware.memory_used_gib_max == pytest.approx(4.0)
    idle = load_machine("l40s-pcie")
    idle["memory_v2"] = False  # v1: 563 MiB reserved shows as used, no process
    assert hardware_from_inventory(probed(idle), load_gpu).memory_used_gib_max == 0.0


def test_fabric_manager_down_is_a_finding() -> None:
    machine = load_machine("dgx-h100")
    machine["fabric_manager"] = False
    hardware = hardware_from_inventory(probed(machine), load_gpu)
    assert hardware.nvlink_domain_size == 1
    assert hardware.warnings == [
        "GPU pairs 0-1, 0-2, 0-3, 0-4 and 24 more have active NVLinks but NVLink peer-to-peer "
        "is unavailable (NVSwitch: is nvidia-fabricmanager running?); planned as PCIe"
    ]


def test_mig_on_without_instances_cannot_plan() -> None:
    machine = load_machine("h100-pcie-mig")
    machine["gpus"][0]["mig"]["instances"] = []
    with pytest.raises(InputError, match="every GPU is in MIG mode without instances"):
        hardware_from_inventory(probed(machine), load_gpu)


# --- driver versus the vLLM image's CUDA ----------------------------------------------------


def test_driver_too_old_for_the_image_names_the_versions() -> None:
    text = driver_finding("535.183.01", "12.2", parse_version("0.11.0"))
    assert text == (
        "driver 535.183.01 (CUDA 12.2) is too old for the vLLM 0.11.0 image, built on CUDA "
        "12.8: it needs driver >= 570.26 (the container toolkit refuses to start it, "
        "'unsatisfied condition: cuda>=12.8'), or NVIDIA's CUDA forward-compatibility package "
        "on a data-centre GPU"
    )
    # R570 (CUDA 12.8) runs the 0.11.0 image but not the CUDA 12.9 images from 0.11.1
    assert driver_finding("570.124.06", "12.8", parse_version("0.11.0")) is None
    newer = driver_finding("570.124.06", "12.8", parse_version("0.11.1"))
    assert newer is not None and "CUDA 12.9" in newer and ">= 575.51.03" in newer
    assert driver_finding("580.65.06", "13.0", parse_version("0.33.0")) is None
    # without the CUDA version, the driver version decides
    only_driver = driver_finding("550.54.15", None, parse_version("0.10.1"))
    assert only_driver is not None and only_driver.startswith("driver 550.54.15 is too old")
    assert driver_finding(None, None, parse_version("0.33.0")) is None
