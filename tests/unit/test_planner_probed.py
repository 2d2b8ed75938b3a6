"""The planner on probed machines: the measured topology and memory change the plan."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from fakes.fake_pynvml import FakePynvml, load_machine

from swissai.adapters.nvml import read_inventory
from swissai.adapters.profiles import load_gpu, load_model
from swissai.core.gpu_inventory import hardware_from_inventory
from swissai.core.hardware import hardware_from_spec
from swissai.core.planner import PlanRequest, make_plan
from swissai.errors import InputError
from swissai.models.gpu import Hardware
from swissai.models.plan import ServePlan

GIB = 1024**3
NOW = datetime(2025, 6, 2, tzinfo=timezone.utc)


def probed(machine: str | dict[str, Any]) -> Hardware:
    data = load_machine(machine) if isinstance(machine, str) else machine
    inventory = read_inventory(FakePynvml(data), host="gpu-host", now=NOW)
    return hardware_from_inventory(inventory, load_gpu, source="probe")


def plan(model: str, hardware: Hardware, **kw: Any) -> ServePlan:
    return make_plan(PlanRequest(model=load_model(model), hardware=hardware, **kw))


def test_a100_pcie_pairs_keep_tensor_parallelism_inside_a_pair() -> None:
    result = plan("gpt-oss-120b", probed("a100-pcie-nvlink-pairs"))
    assert result.feasible
    assert result.layout.tensor_parallel_size == 2
    assert result.layout.replicas == 2
    assert not any("all-reduce runs over PCIe" in w for w in result.warnings)
    # The same GPUs given as a spec assume the SXM board's NVLink domain of 8 and take TP4
    # when concurrency alone decides (--min-replicas 1).
    spec = plan("gpt-oss-120b", hardware_from_spec("4xa100-80gb", load_gpu), min_replicas=1)
    assert spec.layout.tensor_parallel_size == 4


def test_when_only_tp4_fits_the_pcie_hop_is_a_warning() -> None:
    result = plan("llama-3.1-70b", probed("a100-pcie-nvlink-pairs"))
    assert result.layout.tensor_parallel_size == 4
    assert "TP4 exceeds the NVLink domain of 2 GPU(s): all-reduce runs over PCIe" in (
        result.warnings
    )


def test_30_gib_held_by_another_process_lowers_the_feasible_budget() -> None:
    idle = plan("gpt-oss-120b", probed("dgx-h100"))
    machine = load_machine("dgx-h100")
    busy_gpu = machine["gpus"][5]
    busy_gpu["memory"] = {**busy_gpu["memory"], "used": 30 * GIB}
    busy_gpu["processes"] = [{"pid": 90211, "name": "jupyter-kernel", "used_bytes": 30 * GIB}]
    busy = plan("gpt-oss-120b", probed(machine))
    assert idle.limits.gpu_memory_utilization == 0.9
    # free fraction (79.18 - 30) / 79.18 = 0.621, less vLLM's margin of 0.01
    assert busy.limits.gpu_memory_utilization == 0.61
    assert busy.memory_per_gpu_gib.budget == pytest.approx(0.61 * 79.18, abs=0.01)
    assert busy.memory_per_gpu_gib.budget < idle.memory_per_gpu_gib.budget - 20
    assert busy.memory_per_gpu_gib.kv_cache < idle.memory_per_gpu_gib.kv_cache
    assert busy.feasible
    assert any(
        w.startswith(
            "GPU 5 (NVIDIA H100 80GB HBM3): 30.0 GiB held by other processes "
            "(pid 90211 jupyter-kernel 30.0 GiB)"
        )
        for w in busy.warnings
    )
    assert any("other processes hold 30.0 GiB" in r for r in busy.reasons)


def test_forced_utilization_above_free_memory_is_infeasible() -> None:
    machine = load_machine("dgx-h100")
    machine["gpus"][0]["memory"] = {**machine["gpus"][0]["memory"], "used": 30 * GIB}
    machine["gpus"][0]["processes"] = [{"pid": 1, "name": "x", "used_bytes": 30 * GIB}]
    result = plan("gpt-oss-120b", probed(machine), gpu_memory_utilization=0.9)
    assert not result.feasible
    assert any("vLLM will refuse to start with utilization 0.9" in w for w in result.warnings)


def test_mig_instance_plans_tp1_in_its_own_memory() -> None:
    result = plan("gpt-oss-20b", probed("h100-pcie-mig"))
    assert result.feasible
    assert result.layout.tensor_parallel_size == 1
    assert result.hardware.gpus[0].id == "h100-pcie-80gb-mig-3g.40gb"
    assert result.memory_per_gpu_gib.total == pytest.approx(39.25, abs=0.01)
    # gpt-oss-120b (~65 GiB of weights) cannot fit one 40 GB instance
    assert not plan("gpt-oss-120b", probed("h100-pcie-mig")).feasible


def test_mixed_machine_plans_the_a100s_and_warns_about_the_v100s() -> None:
    result = plan("gpt-oss-20b", probed("mixed-a100-v100"))
    assert result.hardware.source == "probe"
    assert [(g.id, g.count) for g in result.hardware.gpus] == [
        ("a100-40gb", 2),
        ("tesla-v100-pcie-32gb", 2),
    ]
    assert any("mixed GPUs: planning on 2xa100-40gb" in r for r in result.reasons)
    assert any("compute capability 7.0 is below 8.0" in w for w in result.warnings)


def test_v100_only_cannot_run_mxfp4() -> None:
    machine = load_machine("mixed-a100-v100")
    machine["gpus"] = machine["gpus"][2:]
    machine["pcie_topology"] = [row[2:] for row in machine["pcie_topology"][2:]]
    with pytest.raises(InputError) as info:
        plan("gpt-oss-20b", probed(machine))
    assert info.value.message == (
        "tesla-v100-pcie-32gb (compute capability 7.0) cannot run MXFP4 in vLLM"
    )
    # a BF16 model still plans on the V100s, from NVML's figures
    dense = plan("llama-3.1-8b-instruct", probed(machine))
    assert dense.feasible and dense.hardware.gpus[0].id == "tesla-v100-pcie-32gb"


def test_driver_finding_follows_the_planned_vllm_version() -> None:
    hardware = probed("a100-pcie-nvlink-pairs")  # driver 570.124.06, CUDA 12.8
    old = plan("gpt-oss-120b", hardware, vllm_version="0.11.0")
    new = plan("gpt-oss-120b", hardware, vllm_version="0.12.0")
    assert not any("too old for the vLLM" in w for w in old.warnings)
    assert (
        "driver 570.124.06 (CUDA 12.8) is too old for the vLLM 0.12.0 image, built on CUDA "
        "12.9: it needs driver >= 575.51.03 (the container toolkit refuses to start it, "
        "'unsatisfied condition: cuda>=12.9'), or NVIDIA's CUDA forward-compatibility package "
        "on a data-centre GPU"
    ) in new.warnings


def test_gpus_from_a_spec_carry_no_probe_warnings() -> None:
    result = plan("gpt-oss-120b", hardware_from_spec("8xh100-80gb", load_gpu))
    assert result.warnings == []
