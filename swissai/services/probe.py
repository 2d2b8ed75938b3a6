"""The `probe` use case: this host's GPUs through NVML, with what they mean for planning."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swissai.errors import InputError
from swissai.models.gpu import Hardware
from swissai.models.inventory import GpuInventory


@dataclass(frozen=True)
class ProbeResult:
    inventory: GpuInventory
    hardware: Hardware | None  # None when no GPU can be planned for (e.g. MIG without instances)
    findings: list[str] = field(default_factory=list)  # warnings for the operator


def probe(vllm_version: str | None = None, *, nvml: Any = None) -> ProbeResult:
    """Read the GPUs (exit 3 where NVML is absent or fails) and check the driver against the
    CUDA of the vLLM image of `vllm_version`."""
    from swissai.adapters.nvml import read_inventory
    from swissai.adapters.profiles import load_gpu
    from swissai.core.gpu_inventory import driver_finding, hardware_from_inventory
    from swissai.core.vllm_versions import DEFAULT_VLLM_VERSION, behaviour_for

    version, _ = behaviour_for(vllm_version or DEFAULT_VLLM_VERSION)
    inventory = read_inventory(nvml)
    findings: list[str] = []
    hardware = None
    try:
        hardware = hardware_from_inventory(inventory, load_gpu, source="probe")
        findings += hardware.warnings
    except InputError as exc:  # e.g. every GPU in MIG mode without instances
        findings.append(exc.message)
    driver = driver_finding(inventory.driver_version, inventory.cuda_driver_version, version)
    if driver:
        findings.append(driver)
    return ProbeResult(inventory, hardware, findings)
